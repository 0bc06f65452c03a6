"""Model-file scanning: is it safe to load this model's files?

    allowlist.json / allowlist.py   the versioned allow-list of importable globals (data)
    opcodes.py      static pickle walker: symbolic stack + memo, every import resolved
    formats.py      formats by content: pickle, joblib, zip/PyTorch, npy/npz, HDF5, skops, ...
    mlmodel_checks.py  MLmodel loader/code checks, environment-file injection checks
    scanner.py      scan a file or directory -> ScanReport (clean / findings / unscannable)
    unpickler.py    the same allow-list enforced at load time (find_class)
    gate.py         load-time gate for registered versions: clean scan + matching digests
    service.py      server side: scan at registration, store, rescan stale, override, facts
    results.py      SQL and public shape of stored results

Nothing here imports or calls what it inspects; an unreadable file is never a pass.
"""

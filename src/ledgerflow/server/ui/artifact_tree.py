"""The run page's artifact tree: a bounded recursive listing rendered as nested <details>."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A model folder has tens of files; a run that logged thousands would make the page useless.
MAX_ENTRIES = 1000
MAX_DEPTH = 12


@dataclass
class Node:
    path: str
    name: str
    is_dir: bool
    size: int | None = None
    children: list[Node] = field(default_factory=list)
    open: bool = False
    preview_url: str = ""
    download_url: str = ""


@dataclass
class Tree:
    nodes: list[Node]
    truncated: bool


def build_tree(
    list_dir: Callable[[str], list[dict[str, Any]]],
    selected: str,
    preview_url: Callable[[str], str],
    download_url: Callable[[str], str],
) -> Tree:
    """List from the root down; directories on the way to ``selected`` start open.

    ``list_dir(path)`` returns MLflow FileInfo dicts whose ``path`` is relative to the
    artifact root (as ListArtifacts answers).
    """
    budget = [MAX_ENTRIES]
    truncated = [False]

    def walk(path: str, depth: int) -> list[Node]:
        nodes: list[Node] = []
        entries = sorted(list_dir(path), key=lambda e: (not e.get("is_dir", False), str(e.get("path", ""))))
        for entry in entries:
            if budget[0] <= 0:
                truncated[0] = True
                break
            budget[0] -= 1
            full = str(entry.get("path", ""))
            if path and not full.startswith(path + "/"):
                # Some stores answer with names relative to the listed folder.
                full = posixpath.join(path, full)
            node = Node(
                path=full,
                name=posixpath.basename(full),
                is_dir=bool(entry.get("is_dir", False)),
                size=entry.get("file_size"),
            )
            if node.is_dir:
                node.open = selected.startswith(full + "/")
                if depth < MAX_DEPTH:
                    node.children = walk(full, depth + 1)
                else:
                    truncated[0] = True
            else:
                node.preview_url = preview_url(full)
                node.download_url = download_url(full)
            nodes.append(node)
        return nodes

    return Tree(walk("", 0), truncated[0])

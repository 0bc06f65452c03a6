"""Authorization: roles and per-resource grants, one declared route table, one enforcement point."""

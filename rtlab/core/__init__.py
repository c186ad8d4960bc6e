"""The core layer: what is measured and how it is stored; stdlib only, imports no other layer."""

"""The `lexbrief` command. Each command group is a module with `register(subparsers)`."""

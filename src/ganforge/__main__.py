"""`python -m ganforge ...` (also what `torchrun -m ganforge train ...` runs)."""

from ganforge.cli import main

if __name__ == "__main__":
    main()

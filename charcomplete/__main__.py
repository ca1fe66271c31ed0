"""`python -m charcomplete` (also what torchrun launches)."""

from charcomplete.cli import main

if __name__ == "__main__":
    main()

"""Running the package as a module (`python -P -m charcomplete`; also what torchrun launches)."""

from charcomplete.launcher import main

if __name__ == "__main__":
    main()

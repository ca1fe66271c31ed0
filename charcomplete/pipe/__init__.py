"""The pipe surface: `charcomplete complete`, text on stdin and its completion on stdout, or
requests line by line (`--lines`). It starts without typer or torch: shells call it per keystroke."""

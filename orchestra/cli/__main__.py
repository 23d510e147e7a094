"""``python -m orchestra.cli``: the ``orchestra`` command without the console script."""

from orchestra.cli import main

if __name__ == "__main__":
    main()

"""TAP output for the Python tests of the naclip tool (test-*.py beside
this file, which Python finds as the scripts' own directory).

    import tap
    tap.check(ok, "what is checked", detail)   # "ok 1 - ..." or "not ok 1"
    tap.note("a figure")                        # "# a figure"
    sys.exit(tap.done())                        # the plan; 1 if any failed
"""

_n_tests = 0
_n_failed = 0


def check(ok, what, detail=""):
    """Prints one numbered result; on failure, the first 40 lines of
    @detail as TAP comments."""
    global _n_tests, _n_failed
    _n_tests += 1
    print(f"{'ok' if ok else 'not ok'} {_n_tests} - {what}", flush=True)
    if not ok:
        _n_failed += 1
        for line in str(detail).splitlines()[:40]:
            print(f"# {line}", flush=True)


def note(text):
    """Prints @text as a TAP comment."""
    print(f"# {text}", flush=True)


def done():
    """Prints the plan; returns the exit status (1 if a check failed)."""
    print(f"1..{_n_tests}", flush=True)
    return 1 if _n_failed else 0

"""TAP output for the Python tests of the naclip tool (test-*.py beside
this file, which Python finds as the scripts' own directory) and of the
element (elements/test_*.py, which add this directory to sys.path).

    import tap
    tap.check(ok, "what is checked", detail)   # "ok 1 - ..." or "not ok 1"
    tap.check(ok, "a target", todo="why not")  # "... # TODO why not": a
                                                # known shortfall, no failure
    tap.note("a figure")                        # "# a figure"
    sys.exit(tap.done())                        # the plan; 1 if any failed
"""

_n_tests = 0
_n_failed = 0


def check(ok, what, detail="", todo=None):
    """Prints one numbered result; on failure, the first 40 lines of
    @detail as TAP comments. With @todo (the reason), the result is a TODO
    directive: its failure is expected and not counted (a TAP harness
    reports it passing as unexpected)."""
    global _n_tests, _n_failed
    _n_tests += 1
    directive = f" # TODO {todo}" if todo else ""
    print(f"{'ok' if ok else 'not ok'} {_n_tests} - {what}{directive}",
          flush=True)
    if not ok:
        _n_failed += 0 if todo else 1
        for line in str(detail).splitlines()[:40]:
            print(f"# {line}", flush=True)


def note(text):
    """Prints @text as a TAP comment."""
    print(f"# {text}", flush=True)


def done():
    """Prints the plan; returns the exit status (1 if a check failed)."""
    print(f"1..{_n_tests}", flush=True)
    return 1 if _n_failed else 0

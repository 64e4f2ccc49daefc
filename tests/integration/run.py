"""Runs clearcap's integration tests: every test_* function of every tests/integration/test_*.py.

usage: run.py BUILD_DIR [--quick] [--sanitize] [-k SUBSTRING]

--sanitize runs the programs with the ASan/UBSan runtime preloaded ahead of an instrumented shim;
--quick runs only tests marked QUICK = True at module level or listed in a module's QUICK list.
Prints one line per test and closes with "N passed, N failed, N skipped".
"""
import importlib.util
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cclib  # noqa: E402


def main():
    # Programs the tests start see SIGINT and SIGTERM at their defaults, as from a terminal: a run
    # started in the background by a shell without job control inherits SIGINT ignored, and
    # ignored dispositions survive exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    args = sys.argv[1:]
    build = args[0]
    quick = "--quick" in args
    sanitize = "--sanitize" in args or build.rstrip("/").endswith("-san")
    # --tsan: the ThreadSanitizer pass runs the tests that name themselves in a module's TSAN list.
    tsan = build.rstrip("/").endswith("-tsan")
    pattern = None
    if "-k" in args:
        pattern = args[args.index("-k") + 1]
    tests = []
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        quick_list = getattr(mod, "TSAN" if tsan else "QUICK", [])
        for attr in sorted(dir(mod)):
            if attr.startswith("test_") and callable(getattr(mod, attr)):
                if (quick or tsan) and not (quick_list is True or attr in quick_list):
                    continue
                if pattern and pattern not in "%s.%s" % (name, attr):
                    continue
                tests.append(("%s.%s" % (name[:-3], attr), getattr(mod, attr)))
    passed = failed = skipped = 0
    for tname, fn in tests:
        env = cclib.Env(build, sanitize=sanitize)
        t0 = time.time()
        try:
            fn(env)
        except cclib.Skip as e:
            skipped += 1
            print("SKIP %-50s %s" % (tname, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %-50s (%.1fs)" % (tname, time.time() - t0), flush=True)
            print("     " + traceback.format_exc().replace("\n", "\n     "), flush=True)
        else:
            passed += 1
            print("ok   %-50s (%.1fs)" % (tname, time.time() - t0), flush=True)
        finally:
            if failed == 0 or not os.environ.get("CC_KEEP"):
                env.cleanup()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

# pyenvx's question to Django: where does the project's DATABASES['default'] (and CACHES) point?
# Run with the sandbox's python, in the environment `pyenvx run` gives, from the directory of
# manage.py. It loads the settings the way manage.py would (DJANGO_SETTINGS_MODULE, else the
# default manage.py sets) and connects to nothing. It records which environment variables the
# settings read, so pyenvx can tell which of them feed DATABASES.
#
# argv[1]: a JSON object of variables to set first (pyenvx's sentinels), may be "{}".
# The answer is one line on stdout starting with the marker below; the settings may print too.
# Written for every Python pyenvx runs Django on, 2.7 included: no f-strings.
import json
import os
import re
import sys
import traceback

MARKER = "PYENVX-DJANGO-PROBE:"
KEYS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")

reads = []


def _record(key):
    if key not in reads:
        reads.append(key)


_environ_class = type(os.environ)
_getitem = _environ_class.__getitem__


def _traced_getitem(self, key):
    _record(key)
    return _getitem(self, key)


_environ_class.__getitem__ = _traced_getitem
# Python 2's environ.get asks `in` first (a dict lookup, not __getitem__).
if hasattr(_environ_class, "__contains__"):
    _contains = _environ_class.__contains__

    def _traced_contains(self, key):
        _record(key)
        return _contains(self, key)

    _environ_class.__contains__ = _traced_contains

def text(value):
    if value is None:
        return ""
    return str(value)


class _Stop(Exception):
    pass


def _stop(*args, **kwargs):
    raise _Stop()


def from_manage_py():
    # manage.py itself decides (`f"project.settings.{APP_ENV}"`, a dotenv it loads first):
    # run it up to the point where it would hand over to Django.
    try:
        import runpy

        import django.core.management as management

        management.execute_from_command_line = _stop
        argv = sys.argv
        sys.argv = ["manage.py", "check"]
        try:
            runpy.run_path("manage.py", run_name="__main__")
        except _Stop:
            pass
        finally:
            sys.argv = argv
    except BaseException:  # noqa: B036 - any failure falls back to reading the text
        return None
    return os.environ.get("DJANGO_SETTINGS_MODULE")


def main():
    answer = {"reads": reads, "error": None}
    for key, value in json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}").items():
        os.environ[key] = value
    sys.path.insert(0, os.getcwd())
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        module = from_manage_py()
    if not module:
        try:
            with open("manage.py") as f:
                found = re.search(
                    r"DJANGO_SETTINGS_MODULE['\"]\s*,\s*['\"]([A-Za-z_][\w.]*)['\"]", f.read()
                )
        except (IOError, OSError):
            found = None
        if found:
            module = found.group(1)
            os.environ["DJANGO_SETTINGS_MODULE"] = module
    answer["settings_module"] = module
    try:
        from django.conf import settings

        databases = settings.DATABASES
        default = databases.get("default") or {}
        answer["database"] = dict((k, text(default.get(k))) for k in KEYS)
        caches = getattr(settings, "CACHES", {}) or {}
        cache = caches.get("default") or {}
        location = cache.get("LOCATION")
        if isinstance(location, (list, tuple)):
            location = location[0] if location else ""
        options = cache.get("OPTIONS") or {}
        answer["cache"] = {
            "BACKEND": text(cache.get("BACKEND")),
            "LOCATION": text(location),
            # django-redis takes the password here as well as in the URL.
            "PASSWORD": text(options.get("PASSWORD") if isinstance(options, dict) else None),
        }
        loaded = sys.modules.get(module or "")
        answer["settings_file"] = getattr(loaded, "__file__", None)
    except BaseException as e:  # noqa: B036 - SystemExit and ImproperlyConfigured alike
        lines = traceback.format_exception_only(type(e), e)
        answer["error"] = "".join(lines).strip().splitlines()[-1]
    sys.stdout.write("\n" + MARKER + json.dumps(answer) + "\n")
    sys.stdout.flush()


main()

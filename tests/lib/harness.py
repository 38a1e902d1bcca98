"""What a test needs from the runner: Skip and failure exceptions, test variants and time limits,
the test's own output directory, and where the build put things."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

DEFAULT_TIMEOUT = 300


class Skip(Exception):
    """Raised by a test (or a helper) when the machine lacks something the test needs.
    A skipped test is reported with its reason and never counts as passed."""


class Failure(AssertionError):
    """A test failure with a one-line reason and optional multi-line details (a log tail)."""

    def __init__(self, reason, details=''):
        super().__init__(reason)
        self.reason = reason
        self.details = details


def fail(reason, details=''):
    raise Failure(reason, details)


def variants(*pairs):
    """Register a test once per variant: @variants(('kvm', {'accel': 'kvm'}), ...) turns
    test_argv in module guest into guest/kvm/argv and guest/tcg/argv, each called with the
    variant's keyword arguments."""

    def mark(fn):
        fn.unik_variants = list(pairs)
        return fn

    return mark


def accels(fn):
    """The common variant set: the test runs once under KVM and once under TCG."""
    return variants(('kvm', {'accel': 'kvm'}), ('tcg', {'accel': 'tcg'}))(fn)


def timeout(seconds):
    """Override the runner's per-test time limit (default 300 s)."""

    def mark(fn):
        fn.unik_timeout = seconds
        return fn

    return mark


def build_dir():
    return os.path.abspath(os.environ.get('UNIK_BUILD_DIR') or os.path.join(REPO, 'build'))


def bin_dir():
    return os.path.abspath(os.environ.get('UNIK_BIN_DIR') or os.path.join(REPO, 'bin'))


def test_name():
    return os.environ.get('UNIK_TEST_NAME', 'adhoc')


def out_dir():
    """This test's artifact directory, $UNIK_BUILD_DIR/test-output/<name>/ (created by the
    runner; created here too when a helper is used outside the runner)."""
    d = os.environ.get('UNIK_TEST_OUT') or os.path.join(build_dir(), 'test-output', test_name())
    os.makedirs(d, exist_ok=True)
    return d


def tail(text, lines=25):
    """The last lines of a text, indented, for failure details."""
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    parts = text.rstrip('\n').split('\n')
    if len(parts) > lines:
        parts = ['[... %d lines before ...]' % (len(parts) - lines)] + parts[-lines:]
    return '\n'.join(parts)


def check_equal(what, got, expected):
    """Fail with a readable diff when got != expected."""
    if got == expected:
        return
    import difflib
    if isinstance(got, str) and isinstance(expected, str):
        diff = '\n'.join(difflib.unified_diff(expected.split('\n'), got.split('\n'),
                                              'expected', 'got', lineterm='', n=2))
        fail('%s differs from what was expected' % what, diff[:6000])
    fail('%s: expected %r, got %r' % (what, expected, got))

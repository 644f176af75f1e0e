"""``glance-control {api|registry|all} {start|stop|status|restart}``, as Glance's was."""

import argparse
import errno
import os
import shutil
import signal
import subprocess
import sys
import time

SERVERS = ('glance-api', 'glance-registry')
STOP_TIMEOUT = 15


def _pid_file(server, args):
    if args.pid_file and args.server != 'all':
        return args.pid_file
    return '/var/run/glance/%s.pid' % server


def _read_pid(path):
    try:
        with open(path) as fobj:
            return int(fobj.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        # NOTE: reap it if it is our own child (restart in one process), else a zombie
        # would look alive.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def _command(server, args):
    exe = shutil.which(server) or os.path.join(os.path.dirname(sys.executable), server)
    cmd = [exe]
    for path in args.config_file or ():
        cmd += ['--config-file', path]
    if args.config_dir:
        cmd += ['--config-dir', args.config_dir]
    return cmd


def start(server, args):
    """Start server in the background and record its pid; return an exit code."""
    pid_file = _pid_file(server, args)
    pid = _read_pid(pid_file)
    if pid and _alive(pid):
        print('%s appears to already be running: %s' % (server, pid_file))
        return 0
    os.makedirs(os.path.dirname(pid_file) or '.', exist_ok=True)
    cmd = _command(server, args)
    print('Starting %s with %s' % (server, ' '.join(cmd[1:]) or 'default configuration'))
    with open(os.devnull, 'rb') as devnull:
        proc = subprocess.Popen(cmd, stdin=devnull, start_new_session=True)
    with open(pid_file, 'w') as fobj:
        fobj.write('%d\n' % proc.pid)
    return 0


def stop(server, args):
    """Send SIGTERM, wait for the server to exit (SIGKILL after a timeout)."""
    pid_file = _pid_file(server, args)
    pid = _read_pid(pid_file)
    if not pid:
        print('%s is not running' % server)
        return 0
    if _alive(pid):
        print('Stopping %s (pid %d) with signal(%d)' % (server, pid, signal.SIGTERM))
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            print('Waited %d seconds for %s to die; killing' % (STOP_TIMEOUT, server))
            os.kill(pid, signal.SIGKILL)
    else:
        print('%s (pid %d) is not running; removing stale pid file' % (server, pid))
    try:
        os.unlink(pid_file)
    except OSError:
        pass
    return 0


def status(server, args):
    """Print whether the server runs; exit code 0 if running, 1 otherwise."""
    pid = _read_pid(_pid_file(server, args))
    if pid and _alive(pid):
        print('%s (pid %d) is running...' % (server, pid))
        return 0
    print('%s is stopped' % server)
    return 1


def restart(server, args):
    """Stop then start the server."""
    stop(server, args)
    return start(server, args)


COMMANDS = {'start': start, 'stop': stop, 'status': status, 'restart': restart}


def main(argv=None):
    """Parse the command line and run the command for each server."""
    parser = argparse.ArgumentParser(prog='glance-control')
    parser.add_argument('server', choices=('api', 'registry', 'all'))
    parser.add_argument('command', choices=sorted(COMMANDS))
    parser.add_argument('--pid-file', help='pid file (default /var/run/glance/<server>.pid)')
    parser.add_argument('--config-file', action='append')
    parser.add_argument('--config-dir')
    args = parser.parse_args(argv)
    servers = SERVERS if args.server == 'all' else ('glance-%s' % args.server,)
    codes = [COMMANDS[args.command](server, args) for server in servers]
    return max(codes)


if __name__ == '__main__':
    sys.exit(main())

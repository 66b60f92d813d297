"""A private, TLS-enabled MariaDB server for the tests that need one
(test_account_attrs.py: ``REQUIRE SSL`` / ``REQUIRE X509`` proved with real
TLS logins).  The machine's own mariadbd has ``have_ssl=DISABLED``.

``PrivateMariaDB(base_dir).start()`` makes, under ``base_dir``:

- a CA and, signed by it, a server certificate for ``IP:127.0.0.1`` and a
  client certificate (``openssl``);
- a data directory (``mariadb-install-db --no-defaults
  --auth-root-authentication-method=socket``: root@localhost logs in over the
  unix socket, as on the machine's server);
- ``mariadbd --no-defaults`` on its own socket and a free loopback port, with
  ``--ssl-ca/--ssl-cert/--ssl-key``, in a process group of its own.

Every wait is bounded.  ``stop()`` ends the process group (SIGTERM, then
SIGKILL).  Anything that cannot be done here raises ``Unavailable`` with the
reason: the caller skips, it never pretends.

The fixture ``private_tls_server`` (module scope) wraps it; import it into a
test module to use it.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

INSTALL_TIMEOUT = 90
START_TIMEOUT = 45
STOP_GRACE = 15


class Unavailable(RuntimeError):
    """The private server cannot be had on this machine (the reason says why)."""


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _which(*names):
    for n in names:
        for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
            p = os.path.join(d, n)
            if os.access(p, os.X_OK):
                return p
        p = shutil.which(n)
        if p:
            return p
    return None


def _run(argv, timeout, what):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"{what} did not finish within {timeout} s")
    except OSError as e:
        raise Unavailable(f"{what} could not run: {e}")
    if r.returncode != 0:
        raise Unavailable(f"{what} failed (exit {r.returncode}): "
                          f"{(r.stderr or r.stdout).strip()[-800:]}")
    return r


class PrivateMariaDB:
    def __init__(self, base):
        self.base = Path(base)
        self.datadir = self.base / "data"
        self.socket = str(self.base / "mysqld.sock")
        self.pid_file = str(self.base / "mysqld.pid")
        self.error_log = str(self.base / "error.log")
        self.port = None
        self.proc = None
        self.ca = str(self.base / "ca.pem")
        self.server_cert = str(self.base / "server.pem")
        self.server_key = str(self.base / "server.key")
        self.client_cert = str(self.base / "client.pem")
        self.client_key = str(self.base / "client.key")

    # -- certificates
    def _certificates(self):
        openssl = _which("openssl")
        if not openssl:
            raise Unavailable("openssl is not installed")
        b = self.base
        _run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
              "-subj", "/CN=guestagent-interop-ca", "-keyout", str(b / "ca.key"),
              "-out", self.ca], 60, "openssl (CA)")
        ext = b / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\n"
                       "extendedKeyUsage=serverAuth\n")
        cext = b / "client.ext"
        cext.write_text("extendedKeyUsage=clientAuth\n")
        for name, subj, extfile in (("server", "/CN=127.0.0.1", ext),
                                    ("client", "/CN=guestagent-interop-client", cext)):
            key, csr, crt = b / f"{name}.key", b / f"{name}.csr", b / f"{name}.pem"
            _run([openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subj,
                  "-keyout", str(key), "-out", str(csr)], 60, f"openssl ({name} key)")
            _run([openssl, "x509", "-req", "-in", str(csr), "-CA", self.ca,
                  "-CAkey", str(b / "ca.key"), "-CAcreateserial", "-days", "2",
                  "-extfile", str(extfile), "-out", str(crt)], 60, f"openssl ({name} cert)")
        for p in b.glob("*.key"):
            os.chmod(p, 0o600)

    # -- server
    def start(self):
        mariadbd = _which("mariadbd", "mysqld")
        install = _which("mariadb-install-db", "mysql_install_db")
        if not mariadbd or not install:
            raise Unavailable("mariadbd / mariadb-install-db are not installed")
        self.base.mkdir(parents=True, exist_ok=True)
        self._certificates()
        # As root the server must be told to stay root (--user=root): the
        # directory is ours, 0700, and nobody else needs to read it.
        user = ["--user=root"] if os.geteuid() == 0 else []
        _run([install, "--no-defaults", f"--datadir={self.datadir}",
              "--auth-root-authentication-method=socket", "--skip-test-db", *user],
             INSTALL_TIMEOUT, "mariadb-install-db")
        self.port = _free_port()
        argv = [mariadbd, "--no-defaults", f"--datadir={self.datadir}",
                f"--socket={self.socket}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--pid-file={self.pid_file}",
                f"--log-error={self.error_log}",
                f"--ssl-ca={self.ca}", f"--ssl-cert={self.server_cert}",
                f"--ssl-key={self.server_key}",
                "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
                "--max-connections=50", *user]
        out = open(self.base / "mariadbd.out", "ab")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            raise Unavailable(f"mariadbd could not start: {e}")
        finally:
            out.close()
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"mariadbd exited with code {self.proc.returncode}: "
                                  f"{self.log_tail()}")
            try:
                conn = self.root()
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT @@have_ssl")
                        have_ssl = cur.fetchone()[0]
                finally:
                    conn.close()
                if have_ssl != "YES":
                    raise Unavailable(f"the private mariadbd has have_ssl={have_ssl}: "
                                      f"{self.log_tail()}")
                return self
            except Unavailable:
                raise
            except Exception as e:  # noqa: BLE001 - not up yet
                last = e
                time.sleep(0.2)
        raise Unavailable(f"mariadbd not ready within {START_TIMEOUT} s ({last}): "
                          f"{self.log_tail()}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        else:
            # The leader is gone; anything left in its group goes too.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def log_tail(self, chars=1500):
        try:
            with open(self.error_log, "rb") as f:
                return f.read().decode("utf-8", "replace")[-chars:]
        except OSError:
            return "(no error log)"

    # -- sessions
    def root(self):
        """root@localhost over the private socket (unix_socket authentication)."""
        import pymysql
        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True,
                               charset="utf8mb4", connect_timeout=5, read_timeout=30)

    def query(self, sql, args=None):
        conn = self.root()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def login(self, user, password, tls=False, client_cert=False):
        """A TCP session to the private server: plain (TLS disabled), or with
        ``tls`` TLS verifying the server against the private CA and its name
        (127.0.0.1); ``client_cert``: also present the client certificate."""
        import pymysql
        import harness
        harness.register_secret(password, "tlsdb login")
        if not tls:
            # PyMySQL >= 1.2 tries TLS unasked (PREFERRED): a plain login must
            # say so.
            return pymysql.connect(host="127.0.0.1", port=self.port, user=user,
                                   password=password, connect_timeout=5, read_timeout=10,
                                   charset="utf8mb4", ssl_disabled=True)
        ssl = {"ca": self.ca}
        if client_cert:
            ssl.update(cert=self.client_cert, key=self.client_key)
        return pymysql.connect(host="127.0.0.1", port=self.port, user=user, password=password,
                               connect_timeout=5, read_timeout=10, charset="utf8mb4", ssl=ssl)


@pytest.fixture(scope="module")
def private_tls_server():
    """A private TLS-enabled mariadbd for one module, removed afterwards; the
    module's tests skip (with the reason) if it cannot be started here."""
    base = tempfile.mkdtemp(prefix="guestagent-tlsdb-")
    os.chmod(base, 0o700)
    server = PrivateMariaDB(base)
    try:
        try:
            server.start()
        except Unavailable as e:
            server.stop()
            pytest.skip(f"no private TLS-enabled MariaDB on this machine: {e}")
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)

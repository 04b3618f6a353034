//! A stand-in for the official `mariadb` image, built from this machine's MariaDB (Debian's
//! mariadb-server) for a Docker engine with no registry, the way [`super::pg_image`] stands in
//! for `postgres`. It honours the part of the image's contract pyenvx uses: `MARIADB_USER`,
//! `MARIADB_PASSWORD`, `MARIADB_DATABASE` (the user granted that database only) and
//! `MARIADB_ROOT_PASSWORD` (root from anywhere) or `MARIADB_RANDOM_ROOT_PASSWORD`, the
//! first start's `/docker-entrypoint-initdb.d/*.sql` run as root after the user exists, data
//! in `/var/lib/mysql`, port 3306, server options as the command. Not its `healthcheck.sh`.

use std::sync::{Mutex, OnceLock};

use super::pgimage::{import_rootfs, Rootfs};

const ENTRYPOINT: &str = r#"#!/bin/sh
set -e
DATADIR=/var/lib/mysql
INIT=
if [ ! -d "$DATADIR/mysql" ]; then
  if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
    MARIADB_ROOT_PASSWORD=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    echo "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
  fi
  if [ -z "$MARIADB_PASSWORD" ] || [ -z "$MARIADB_ROOT_PASSWORD" ]; then
    echo "error: MARIADB_PASSWORD and MARIADB_ROOT_PASSWORD (or MARIADB_RANDOM_ROOT_PASSWORD) are required" >&2
    exit 1
  fi
  if ! mariadb-install-db --no-defaults --datadir="$DATADIR" --auth-root-authentication-method=socket \
      --skip-test-db --skip-name-resolve > /tmp/install.log 2>&1; then
    cat /tmp/install.log >&2
    exit 1
  fi
  umask 077
  cat > /tmp/init.sql <<SQL
CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;
CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';
CREATE USER 'root'@'%' IDENTIFIED BY '$MARIADB_ROOT_PASSWORD';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
  # The image runs these as root once the user exists. (An init file takes one statement a
  # line and no comments.)
  for f in /docker-entrypoint-initdb.d/*.sql; do
    if [ -f "$f" ]; then sed -e '/^--/d' -e '/^[[:space:]]*$/d' "$f" >> /tmp/init.sql; fi
  done
  INIT=--init-file=/tmp/init.sql
  echo "MariaDB init process done. Ready for start up."
fi
exec mariadbd --no-defaults --datadir="$DATADIR" --bind-address=0.0.0.0 --port=3306 \
  --socket=/run/mysqld/mysqld.sock --skip-name-resolve $INIT "$@"
"#;

const MARIA_ROOTFS: Rootfs = Rootfs {
    cache: "mariaimage",
    roots: &[
        "/usr/sbin/mariadbd",
        "/usr/bin/mariadb-install-db",
        "/usr/bin/mariadb",
        "/usr/bin/mariadb-dump",
        "/usr/bin/my_print_defaults",
        "/usr/bin/resolveip",
        "/usr/share/mysql",
        "/usr/lib/mysql/plugin",
        // What mariadb-install-db, a shell script, runs.
        "/bin/sh",
        "/usr/bin/cat",
        "/usr/bin/sed",
        "/usr/bin/awk",
        "/usr/bin/hostname",
        "/usr/bin/dirname",
        "/usr/bin/basename",
        "/usr/bin/chmod",
        "/usr/bin/chown",
        "/usr/bin/mkdir",
        "/usr/bin/rm",
        "/usr/bin/uname",
        "/usr/bin/which",
        // MARIADB_RANDOM_ROOT_PASSWORD.
        "/usr/bin/od",
        "/usr/bin/tr",
    ],
    entrypoint: ENTRYPOINT,
    dirs: &[
        ("/var", 0o755, 0),
        ("/var/lib", 0o755, 0),
        ("/var/lib/mysql", 0o755, 999),
        ("/run", 0o755, 0),
        ("/run/mysqld", 0o755, 999),
        ("/tmp", 0o1777, 0),
        ("/etc", 0o755, 0),
    ],
    passwd: "root:x:0:0:root:/root:/bin/sh\nmysql:x:999:999:MariaDB:/var/lib/mysql:/bin/sh\n",
    group: "root:x:0:\nmysql:x:999:\n",
};

/// The stand-in image, imported once per test process; remove it with
/// [`super::remove_pg_image`] at the end.
pub fn maria_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap();
    IMAGE
        .get_or_init(|| {
            super::machine::require_mariadbd();
            import_rootfs(
                &MARIA_ROOTFS,
                "pyenvx-test-mariadb:11",
                &[
                    "ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/bin",
                    "EXPOSE 3306",
                    "VOLUME /var/lib/mysql",
                ],
            )
        })
        .clone()
}

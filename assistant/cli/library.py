"""`assistant library push | pull | password`: moving a collection to and from a team library.

A push copies a collection of this computer's library (or of `--from`) to a PostgreSQL
library; a pull copies one back (into this computer's library, or `--to`). Progress lines go
to stderr; with `--json` the last line of stdout is the summary.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from assistant.cli.output import emit_json
from assistant.errors import StoreError, UserError


def _progress(verb: str, seen: list[Any]) -> Any:
    from assistant.store.transfer import TransferProgress

    def report(p: TransferProgress) -> None:
        seen[:] = [p]
        print(f"{verb} {p.documents_done} of {p.documents_total} documents "
              f"({p.chunks_done} passages, {p.seconds:.1f} s)", file=sys.stderr, flush=True)
    return report


def _move(args: argparse.Namespace, source_target: str | None, dest_target: str | None,
          verb: str) -> int:
    from assistant.store.backend import open_store
    from assistant.store.transfer import transfer

    seen: list[Any] = []
    with open_store(source_target) as source, open_store(dest_target) as dest:
        try:
            summary = transfer(source, dest, args.collection, batch=args.batch,
                               progress=_progress(verb, seen))
        except KeyboardInterrupt:
            print("Interrupted; the batches copied so far are kept, and the same command "
                  "carries on from there.", file=sys.stderr)
            return 130
        except StoreError as exc:  # the server went away for longer than the retries
            if not seen:
                raise
            raise StoreError(f"{exc} The {seen[0].documents_done} documents copied before "
                             "are kept there, and the same command carries on from "
                             "them.") from exc
    out = sys.stderr if args.json else sys.stdout
    again = " (carried on from an interrupted run)" if summary.resumed else ""
    print(f"Copied {summary.documents} documents ({summary.chunks} passages) of "
          f"'{summary.collection}' from {summary.source} to {summary.target} in "
          f"{summary.seconds:.1f} s{again}; nothing was re-embedded.", file=out)
    if args.json:
        emit_json(summary.to_json())
    return 0


def _local() -> Any:
    from assistant import paths

    return paths.db_path()


def cmd_push(args: argparse.Namespace) -> int:
    from assistant.store.pg_connect import is_url

    if not is_url(args.to):
        raise UserError(f"Push to a postgresql:// address (got '{args.to}').")
    return _move(args, args.source or str(_local()), args.to, "pushed")


def cmd_pull(args: argparse.Namespace) -> int:
    from assistant.store.pg_connect import is_url

    if not is_url(args.source):
        raise UserError(f"Pull from a postgresql:// address (got '{args.source}').")
    return _move(args, args.source, args.to or str(_local()), "pulled")


def cmd_password(args: argparse.Namespace) -> int:
    from assistant.store.pg_connect import redacted, save_password, split_password

    url, given = split_password(args.url)
    password = given
    if password is None:
        password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else \
            getpass.getpass(f"Password for {redacted(url)}: ")
    if not password:
        raise UserError("No password was given.")
    where = save_password(url, password)
    print(f"The password for {redacted(url)} is kept in {where}.")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    """The same test and the same saving as Settings → Library (`assistant.store.team`): a
    library whose passages another embedder made is refused before it becomes the default
    (the window would otherwise re-embed a shared library at its next start)."""
    from assistant.search.embedding import default_runtime, identity_of
    from assistant.store.pg_connect import is_url, redacted, split_password
    from assistant.store.team import check_library, use_library

    if args.local:
        use_library(None)
        print("The command line uses the library on this computer again.")
        return 0
    if not args.url:
        raise UserError("Give a postgresql:// address, or --local.")
    if not is_url(args.url):
        raise UserError(f"A team library address starts with postgresql:// (got '{args.url}').")
    if split_password(args.url)[1] is not None:
        raise UserError("Leave the password out of the address; save it with "
                        "'assistant library password'.")
    check = check_library(args.url, embedder=identity_of(default_runtime()))
    if not check.ok:  # reachable, its tables made or upgraded, and the same embedder
        raise UserError(check.sentence)
    use_library(args.url)  # never saved with a password
    print(f"The command line now uses the team library at {redacted(args.url)} "
          f"({check.documents} document{'s' if check.documents != 1 else ''} in "
          f"{check.collections} collection{'s' if check.collections != 1 else ''}).")
    return 0


def add_library_commands(sub: Any) -> None:
    lib = sub.add_parser("library", help="move a collection to or from a team library "
                                         "(PostgreSQL)")
    lib_sub = lib.add_subparsers(dest="library_command", metavar="ACTION", required=True)

    p = lib_sub.add_parser("push", help="copy a collection to a PostgreSQL library")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host/db")
    p.add_argument("--from", dest="source", metavar="STORE",
                   help="the library to copy from: a file or URL (default: this computer's)")
    p.set_defaults(func=cmd_push)

    p = lib_sub.add_parser("pull", help="copy a collection from a PostgreSQL library")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--from", dest="source", required=True, metavar="URL",
                   help="postgresql://user@host/db")
    p.add_argument("--to", metavar="STORE",
                   help="the library to copy into: a file or URL (default: this computer's)")
    p.set_defaults(func=cmd_pull)
    for p in (lib_sub.choices["push"], lib_sub.choices["pull"]):
        p.add_argument("--batch", type=int, default=100, help="documents a batch (default 100)")
        p.add_argument("--json", action="store_true", help="print a JSON summary last")

    p = lib_sub.add_parser("use", help="make a PostgreSQL library the command line's default")
    p.add_argument("url", nargs="?", metavar="URL")
    p.add_argument("--local", action="store_true", help="back to this computer's library")
    p.set_defaults(func=cmd_use)

    p = lib_sub.add_parser("password", help="keep a PostgreSQL password in the system keyring")
    p.add_argument("url", metavar="URL")
    p.set_defaults(func=cmd_password)

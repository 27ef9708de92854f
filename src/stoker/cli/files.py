"""`stoker files put|get|ls|rm|preview`: the storage root over the files API (docs/files.md), with
progress bars for large transfers. Remote paths are relative to the storage root: what a pipeline's
relative path names (`stoker files put people.csv` → `["read_csv", "people.csv"]`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from stoker.cli.remote import JSON, TOKEN, URL, connect, show

QUIET = click.option("--quiet", "-q", is_flag=True, help="no progress bar")
BAR_FROM = 1024 * 1024  # smaller transfers need no bar


@click.group("files", help="Files in the server's storage root: put inputs, get outputs, list, preview, remove.")
def files() -> None:
    pass


def _client(url: str | None, token: str | None):  # type: ignore[no-untyped-def]
    return connect(url, token, timeout=60)


@contextmanager
def _progress(label: str, total: int | None, quiet: bool) -> Iterator[tuple[Callable[[int], None],
                                                                           Callable[[int | None], None]]]:
    """(advance, set_total) of a transfer bar: bytes, speed, time left (stderr; none when quiet,
    when stderr is no terminal, or for a small file)."""
    from rich import progress as bars
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or not console.is_terminal or (total is not None and total < BAR_FROM):
        yield (lambda _n: None), (lambda _t: None)
        return
    with bars.Progress(bars.TextColumn("{task.description}"), bars.BarColumn(), bars.DownloadColumn(),
                       bars.TransferSpeedColumn(), bars.TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(label, total=total)
        yield (lambda n: progress.advance(task, n)), (lambda t: progress.update(task, total=t))


def _remote_for(local: Path, remote: str | None) -> str:
    if not remote:
        return local.name
    return remote + local.name if remote.endswith("/") else remote


@files.command("put")
@click.argument("local", type=click.Path(exists=True, path_type=Path))
@click.argument("remote", required=False)
@click.option("--overwrite", "-f", is_flag=True, help="replace a file that exists")
@click.option("--recursive", "-r", is_flag=True, help="LOCAL is a directory: put every file under it")
@click.option("--checksum", is_flag=True, help="send each file's SHA-256; the server checks it before publishing")
@QUIET
@JSON
@URL
@TOKEN
def put(local: Path, remote: str | None, overwrite: bool, recursive: bool, checksum: bool, quiet: bool,
        as_json: bool, url: str | None, token: str | None) -> None:
    """Upload LOCAL to REMOTE (default: its name at the root; REMOTE ending in / is a directory).
    Written atomically: readers see the old file or the whole new one."""
    if local.is_dir():
        if not recursive:
            raise click.UsageError(f"{local} is a directory: add -r to put every file under it")
        base = (remote.rstrip("/") + "/" if remote else local.name + "/")
        pairs = [(p, base + p.relative_to(local).as_posix()) for p in sorted(local.rglob("*")) if p.is_file()]
    else:
        pairs = [(local, _remote_for(local, remote))]
    with _client(url, token) as client:
        for path, target in pairs:
            size = path.stat().st_size
            with _progress(f"put {target}", size, quiet or as_json) as (advance, _total):
                entry = client.files.put(path, target, overwrite=overwrite, checksum=checksum, progress=advance)
            line = f"{entry['path']}  {_size(entry['size'])}" + (f"  sha256 {entry['sha256']}"
                                                                     if entry.get("sha256") else "")
            show(entry, as_json, lambda: click.echo(line))  # noqa: B023 (called at once)


@files.command("get")
@click.argument("remote")
@click.argument("local", required=False, type=click.Path(path_type=Path))
@click.option("--archive", type=click.Choice(["zip", "tar"]), default=None,
              help="a directory's archive format [default: zip]")
@QUIET
@JSON
@URL
@TOKEN
def get(remote: str, local: Path | None, archive: str | None, quiet: bool, as_json: bool, url: str | None,
        token: str | None) -> None:
    """Download REMOTE into LOCAL (default: its name, here). A directory (a Spark output such as
    out/adults.parquet) comes as one archive: NAME.zip (or --archive tar)."""
    with _client(url, token) as client:
        entry = client.files.info(remote)
        if entry is None:
            raise click.ClickException(f"404: no file or directory {remote!r} in the storage root")
        if entry["kind"] == "directory":
            archive = archive or "zip"
        elif archive:
            raise click.UsageError(f"{remote} is a file: --archive is for directories")
        name = entry["name"] + (f".{archive}" if archive else "")
        target = local or Path(name)
        if target.is_dir():
            target = target / name
        with _progress(f"get {entry['path']}", entry["size"], quiet or as_json) as (advance, set_total):
            written = client.files.get(entry["path"], target, archive=archive, progress=advance, total=set_total)
    show({"path": entry["path"], "local": str(target), "bytes": written}, as_json,
         lambda: click.echo(f"{target}  {_size(written)}"))


@files.command("ls")
@click.argument("prefix", required=False, default="")
@click.option("--recursive", "-r", is_flag=True, help="every file below, not just the directory's entries")
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line")
@URL
@TOKEN
def ls(prefix: str, recursive: bool, as_json: bool, url: str | None, token: str | None) -> None:
    """List PREFIX: a directory (out/) or the start of names (out/ad); default: the root."""
    with _client(url, token) as client:
        if prefix and not prefix.endswith("/"):  # `ls out` lists the directory out, as ls does
            entry = client.files.info(prefix)
            if entry is not None and entry["kind"] == "directory":
                prefix += "/"
        entries = client.files.list(prefix, recursive=recursive)
        if as_json:
            for entry in entries:
                click.echo(json.dumps(entry))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("kind", "size", "modified", "path", box=None, pad_edge=False)
        count = 0
        for entry in entries:
            count += 1
            kind = "dir" if entry["kind"] == "directory" else (entry["format"] or "file")
            path = entry["path"] + ("/" if entry["kind"] == "directory" else "")
            table.add_row(kind, _size(entry["size"]) if entry["size"] is not None else "",
                          entry["modified_at"][:19].replace("T", " "), path)
        if count:
            Console(highlight=False).print(table)
        else:
            click.echo(f"nothing under {prefix or '/'}", err=True)


@files.command("rm")
@click.argument("remote", nargs=-1, required=True)
@click.option("--recursive", "-r", is_flag=True, help="a directory with everything in it")
@JSON
@URL
@TOKEN
def rm(remote: tuple[str, ...], recursive: bool, as_json: bool, url: str | None, token: str | None) -> None:
    """Delete files (or, with -r, directories) in the storage root."""
    with _client(url, token) as client:
        for path in remote:
            client.files.delete(path, recursive=recursive)
            show({"deleted": path}, as_json, lambda: click.echo(f"deleted {path}"))  # noqa: B023 (called at once)


@files.command("preview")
@click.argument("remote")
@click.option("--rows", "-n", default=20, show_default=True, help="rows to show")
@click.option("--json", "as_json", is_flag=True, help="the API's answer as it is")
@URL
@TOKEN
def preview(remote: str, rows: int, as_json: bool, url: str | None, token: str | None) -> None:
    """The schema and first rows of a CSV, JSON lines or Parquet file or directory (read with pyarrow)."""
    with _client(url, token) as client:
        answer = client.files.preview(remote, rows=rows)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(*[f"{c['name']}\n[dim]{c['type']}[/]" for c in answer["columns"]])
    for row in answer["rows"]:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)
    more = " (more not shown)" if answer["truncated"] else ""
    total = f" of {answer['total_rows']:,}" if answer.get("total_rows") is not None else ""
    console.print(f"{len(answer['rows'])}{total} row(s){more}; {answer['format']}, {answer['files']} file(s), "
                  f"{_size(answer['bytes_read'])} read")
    for note in answer.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


def _size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


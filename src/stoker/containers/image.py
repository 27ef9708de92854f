"""The built-in image `localhost/stoker/busybox:latest`, built offline from Debian's busybox-static.

No registry is reachable from these machines, so Stoker ships one small image made locally: a root
file system holding `/bin/busybox` and a link for each of its applets (sh, echo, sleep, wget, dd …),
imported with `podman import`. Building it takes well under a second; an existing image is kept.

Run as `python -m stoker.containers.image [--root DIR --runroot DIR]` (scripts/setup_containers.sh).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from stoker.containers.runtime import podman_env

BUILTIN_IMAGE = "localhost/stoker/busybox:latest"
BUSYBOX_PATHS = (Path("/bin/busybox"), Path("/usr/bin/busybox"))


def find_busybox() -> Path | None:
    for path in BUSYBOX_PATHS:
        if path.exists():
            return path
    return None


def podman_command(storage_root: Path | None = None, run_root: Path | None = None) -> list[str]:
    """`podman` with private storage when given (tests), else the machine's default storage."""
    command = ["podman"]
    if storage_root is not None:
        command += ["--root", str(storage_root)]
    if run_root is not None:
        command += ["--runroot", str(run_root)]
    return command


def image_exists(podman: list[str], image: str = BUILTIN_IMAGE) -> bool:
    done = subprocess.run([*podman, "image", "exists", image], env=podman_env(), capture_output=True)
    return done.returncode == 0


def build_builtin_image(podman: list[str], busybox: Path, image: str = BUILTIN_IMAGE) -> None:
    """Import a busybox root file system as `image` (replacing nothing: call when it is missing)."""
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    with tempfile.TemporaryDirectory(prefix="stoker-image-") as tmp:
        root = Path(tmp, "root")
        for name in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            (root / name).mkdir(parents=True)
        shutil.copy2(busybox, root / "bin" / "busybox")
        for applet in applets:
            if applet != "busybox":
                (root / "bin" / applet).symlink_to("busybox")
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "etc" / "group").write_text("root:x:0:\n")
        rootfs = Path(tmp, "rootfs.tar")
        with tarfile.open(rootfs, "w") as tar:
            tar.add(root, arcname=".")
        subprocess.run([*podman, "import", "--change", 'CMD ["/bin/sh"]', str(rootfs), image],
                       env=podman_env(), check=True, capture_output=True)


def ensure_builtin_image(podman: list[str]) -> str:
    """Build the built-in image unless it is there; returns one line saying what happened."""
    if shutil.which(podman[0]) is None:
        return "podman is not installed: the built-in image was not built"
    if image_exists(podman):
        return f"{BUILTIN_IMAGE} is there"
    busybox = find_busybox()
    if busybox is None:
        return "busybox-static is not installed: the built-in image was not built"
    build_builtin_image(podman, busybox)
    return f"built {BUILTIN_IMAGE}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"Build {BUILTIN_IMAGE} unless it exists.")
    parser.add_argument("--root", type=Path, default=None, help="podman --root (private storage)")
    parser.add_argument("--runroot", type=Path, default=None, help="podman --runroot")
    args = parser.parse_args(argv)
    try:
        print("containers: " + ensure_builtin_image(podman_command(args.root, args.runroot)))
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        print(f"containers: building {BUILTIN_IMAGE} failed: {(stderr or '').strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

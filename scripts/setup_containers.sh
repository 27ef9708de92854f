#!/usr/bin/env bash
# The container runtime of container jobs, as part of `make setup`: Podman (it serves the Docker
# Engine API), runc, busybox-static (the built-in image), docker-registry (a real local registry
# for the tests) and iproute2 + util-linux (`ip netns`, `unshare`: the hosts-in-namespaces test,
# tests/e2e/test_hosts_netns.py), installed with apt-get when missing; then the built-in image
# localhost/stoker/busybox:latest, built offline. Idempotent and quick once done. Where it cannot
# install (not root, no apt-get), it says so in one line: everything else works, and container jobs
# are refused until a runtime is there (or STOKER_DOCKER_HOST points at one).
set -u
PYTHON="${1:-python3}"
PACKAGES=(podman runc busybox-static docker-registry iproute2 util-linux)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "containers: cannot install ${missing[*]} (needs root and apt-get); container jobs stay off until a runtime is there"
    exit 0
  fi
  echo "containers: installing ${missing[*]} with apt-get ..."
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    echo "containers: apt-get could not install ${missing[*]}; container jobs stay off until a runtime is there"
    exit 0
  fi
fi

# The built-in image (skipped quickly when it exists); a failure here must not fail the set-up.
"$PYTHON" -m stoker.containers.image || true

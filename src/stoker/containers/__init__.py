"""The container runtime of container jobs: a Docker Engine API (Docker, or a private Podman API
service that `stoker serve` starts), the built-in image, and the import (pull) of task images."""

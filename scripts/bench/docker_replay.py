"""sccache-dist 0.4.0's docker builder, replayed: the per-job `docker` CLI sequence of its build.rs (protocol §8.5)
against a warm container on the same engine, for when the real builder cannot run (it hangs here while copying
the toolchain in: its `docker cp -` child never gets end of input).

Per job, as upstream does it: `docker cp -` of the inputs tar, `docker exec mkdir -p`, `docker exec` of the
compile through `sh -c 'cd "$1" && shift && exec "$@"'` with one `-e` per client variable, one `docker exec cat`
per output, `docker exec kill -9 -1`, `docker diff`, one `docker exec rm -rf` per added top-level path, and
`docker diff` again.
"""
import io, os, shutil, subprocess, tarfile, tempfile, time

# The name upstream's builder hard-codes; imported here from Debian's busybox-static and removed afterwards.
UPSTREAM_BASE = "aidanhs/busybox:latest"


def docker(*argv, stdin=None, check=True):
    result = subprocess.run(["docker", *argv], input=stdin, capture_output=True, timeout=300)
    if check and result.returncode != 0:
        raise SystemExit(f"docker {' '.join(argv[:3])} failed: {result.stderr.decode()[-500:]}")
    return result.stdout


def docker_cleanup(label):
    """Removes the containers and images carrying `label` (key=value)."""
    for kind, remove in (("ps", "rm"), ("images", "rmi")):
        listing = ["ps", "-aq"] if kind == "ps" else ["images", "-q"]
        ids = docker(*listing, "--filter", f"label={label}", check=False).decode().split()
        if ids:
            docker(remove, "-f", *sorted(set(ids)), check=False)


def upstream_docker_cleanup():
    """Removes what sccache-dist's docker builder leaves: its `sccache-builder-*` images and their containers."""
    for line in docker("ps", "-a", "--format", "{{.ID}} {{.Image}}", check=False).decode().splitlines():
        cid, image = line.split(" ", 1)
        if image.startswith("sccache-builder-"):
            docker("rm", "-f", cid, check=False)
    for image in docker("images", "--format", "{{.Repository}}", check=False).decode().split():
        if image.startswith("sccache-builder-"):
            docker("rmi", "-f", image, check=False)


def upstream_base_image():
    """What upstream pulls as aidanhs/busybox (a static busybox at /busybox), imported locally with no registry."""
    root = tempfile.mkdtemp(prefix="kiln-bench-base-")
    try:
        shutil.copy(shutil.which("busybox"), f"{root}/busybox")
        os.makedirs(f"{root}/tmp", mode=0o1777)
        os.chmod(f"{root}/tmp", 0o1777)
        archive = subprocess.run(["tar", "-C", root, "--owner=0", "--group=0", "-c", "."], capture_output=True, check=True).stdout
        docker("import", "--change", "LABEL dev.kiln.bench=1", "-", UPSTREAM_BASE, stdin=archive)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return UPSTREAM_BASE


class Replay:
    """A warm container made as upstream makes it: `docker create`, `docker cp -` of the toolchain, `docker commit`,
    then `docker run -d` of its sleep loop."""

    def __init__(self, toolchain_archive, base):
        builder = docker("create", "--label", "dev.kiln.bench=1", base, "/busybox", "true").decode().strip()
        with open(toolchain_archive, "rb") as handle:
            docker("cp", "-", f"{builder}:/", stdin=handle.read())
        docker("commit", "--change", "LABEL dev.kiln.bench=1", builder, "kiln-bench/upstream-toolchain:latest")
        docker("rm", "-f", builder)
        self.container = docker("run", "-d", "--label", "dev.kiln.bench=1", "kiln-bench/upstream-toolchain:latest", "/busybox", "sh", "-c",
                                "while true; do /busybox sleep 365d && /busybox true; done").decode().strip()

    def job(self, directory, name, environment):
        """One job's CLI sequence; returns its wall time."""
        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w") as archive:
            archive.add(f"{directory}/{name}.i", arcname=f"{directory.lstrip('/')}/{name}.i")
        cid = self.container
        start = time.perf_counter()
        docker("cp", "-", f"{cid}:/", stdin=tar_bytes.getvalue())
        docker("exec", cid, "/busybox", "mkdir", "-p", directory)
        env = [item for key, value in environment.items() for item in ("-e", f"{key}={value}")]
        docker("exec", *env, cid, "/busybox", "sh", "-c", 'cd "$1" && shift && exec "$@"', "/usr/bin/gcc", directory,
               "/usr/bin/gcc", "-x", "cpp-output", "-O2", "-c", f"{name}.i", "-o", f"{name}.o")
        docker("exec", cid, "/busybox", "cat", f"{directory}/{name}.o")
        docker("exec", cid, "/busybox", "kill", "-9", "-1", check=False)
        last = None
        for line in sorted(docker("diff", cid).decode().splitlines()):
            kind, path = line.split(" ", 1)
            if path == "/tmp" or (last and path.startswith(last + "/")):
                continue
            last = path
            docker("exec", cid, "/busybox", "rm", "-rf", path)
        docker("diff", cid)
        return time.perf_counter() - start

    def close(self):
        docker_cleanup("dev.kiln.bench=1")

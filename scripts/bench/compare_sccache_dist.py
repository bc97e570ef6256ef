"""Benchmark driver for scripts/bench/compare-sccache-dist: the same compile workload through two farms.

Per-job overhead is what a client pays on top of the compiler: for each translation unit, the wall time of a
serial `sccache gcc -c` (a cache miss, distributed) minus the fastest local `gcc -c` of the same file. The
parallel wall time is a fresh set of files compiled three at a time. Every started process is stopped by PID.
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
from docker_replay import Replay, docker_cleanup, upstream_base_image, upstream_docker_cleanup

CLIENT_TOKEN, SERVER_TOKEN = "bench-client-token", "bench-server-token"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def source(salt, index):
    """A translation unit that takes gcc -O2 a noticeable but small time, different for every salt."""
    functions = "\n".join(
        f"int f{index}_{k}(int *v, int n) {{ int s = {salt}; for (int i = 0; i < n; i++) s += v[i] * {k + 3} ^ (s >> {k % 7 + 1}); return s; }}"
        for k in range(60))
    return f"#include <stdio.h>\n#include <string.h>\n{functions}\nconst char *tag{index} = \"bench {salt} {index}\";\n"


def own_cpu_seconds(pid):
    """A process's own CPU seconds (all its threads, those that ended too; its children excluded), to the
    nanosecond: the kernel's CPU clock of the process (glibc's clock_getcpuclockid), where /proc/PID/stat counts in
    clock ticks of 10 ms."""
    return time.clock_gettime(((~pid) << 3) | 2)  # CPUCLOCK_SCHED of the whole process


def cgroup_entry(procs):
    """A preexec_fn that moves the new process into the cgroup of `procs` (a cgroup.procs file), or None."""
    def enter():
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    return enter if procs else None


class Farm:
    def __init__(self, name, root, kiln, sccache, port, sandbox="overlay", server_extra="", kiln_arguments=(), servers=1,
                 metrics_port=None, scheduler_tables="", jobs_dir=None):
        self.name, self.root, self.kiln, self.sccache, self.sandbox = name, f"{root}/{name}", kiln, sccache, sandbox
        self.scheduler_tables = scheduler_tables  # more tables of Kiln's scheduler.toml ([reapi])
        self.jobs_dir = jobs_dir  # Kiln's overlay builders: where the jobs' layers go (a tmpfs)
        self.server_extra, self.kiln_arguments, self.servers = server_extra, list(kiln_arguments), servers
        # Kiln's builders only: builder i serves /metrics on metrics_port + i.
        self.metrics_port = metrics_port if name == "kiln" else None
        self.cgroup_procs = None  # a cgroup.procs file every farm process starts in (fleet's CPU accounting)
        self.client_cgroup_procs = None  # the same for the client's sccache server (the speed benchmark's)
        self.scheduler_port, self.server_port, self.client_port = port, port + 1, port + 2
        self.processes = []
        os.makedirs(self.root, exist_ok=True)

    def spawn(self, label, argv, env=None):
        log = open(f"{self.root}/{label}.log", "w")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True,
                                   preexec_fn=cgroup_entry(self.cgroup_procs))
        self.processes.append(process)

    def start(self, client=True):
        scheduler = write(f"{self.root}/scheduler.toml", f'public_addr = "127.0.0.1:{self.scheduler_port}"\n'
                          f'[client_auth]\ntype = "token"\ntoken = "{CLIENT_TOKEN}"\n[server_auth]\ntype = "token"\ntoken = "{SERVER_TOKEN}"\n'
                          + self.scheduler_tables)
        os.makedirs(f"{self.root}/build", exist_ok=True)
        if self.name.startswith("kiln"):
            self.spawn("scheduler", [self.kiln, "scheduler", "--config", scheduler])
        else:
            self.spawn("scheduler", [f"{self.sccache}/sccache-dist", "scheduler", "--config", scheduler], {"SCCACHE_NO_DAEMON": "1"})
        # Server 0 on server_port and in the farm's own folders (as before); more servers beside it.
        for index in range(self.servers):
            port, suffix = (self.server_port, "") if index == 0 else (self.server_port + 9 + index, str(index))
            builder = ('type = "docker"\n' if self.sandbox == "docker" else
                       f'type = "overlay"\nbuild_dir = "{self.root}/build/overlay{suffix}"\nbwrap_path = "/usr/bin/bwrap"\n'
                       + (f'jobs_dir = "{self.jobs_dir}"\n' if self.jobs_dir else ""))
            metrics = f'metrics_addr = "127.0.0.1:{self.metrics_port + index}"\n' if self.metrics_port else ""
            server = write(f"{self.root}/server{suffix}.toml", f'cache_dir = "{self.root}/cache{suffix}"\npublic_addr = "127.0.0.1:{port}"\n{metrics}'
                           f'scheduler_url = "http://127.0.0.1:{self.scheduler_port}"\n{self.server_extra}[builder]\n{builder}'
                           f'[scheduler_auth]\ntype = "token"\ntoken = "{SERVER_TOKEN}"\n')
            if self.name == "sccache-dist":
                self.spawn(f"server{suffix}", [f"{self.sccache}/sccache-dist", "server", "--config", server])
            else:
                self.spawn(f"server{suffix}", [self.kiln, "--config", server, *self.kiln_arguments])
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{self.scheduler_port}/api/v1/scheduler/status", headers={"Accept": "application/json"})
                if json.load(urllib.request.urlopen(request, timeout=2)).get("num_servers") == self.servers:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit(f"{self.name}: the farm did not come up; see {self.root}/*.log")
        if client:
            self.start_client()

    def start_client(self):
        write(f"{self.root}/client.conf", f'[dist]\nscheduler_url = "http://127.0.0.1:{self.scheduler_port}"\ntoolchains = []\n'
              f'cache_dir = "{self.root}/client-dist"\n[dist.auth]\ntype = "token"\ntoken = "{CLIENT_TOKEN}"\n')
        self.env = {**os.environ, "SCCACHE_CONF": f"{self.root}/client.conf", "SCCACHE_DIR": f"{self.root}/client-cache",
                    "SCCACHE_SERVER_PORT": str(self.client_port), "SCCACHE_CACHED_CONF": f"{self.root}/cached-config",
                    "SCCACHE_IDLE_TIMEOUT": "0", "SCCACHE_ERROR_LOG": f"{self.root}/client.log"}
        subprocess.run([f"{self.sccache}/sccache", "--start-server"], env=self.env, check=True, capture_output=True,
                       preexec_fn=cgroup_entry(self.client_cgroup_procs))

    def compile(self, directory, name, timeout=None):
        start = time.perf_counter()
        result = subprocess.run([f"{self.sccache}/sccache", "gcc", "-O2", "-c", f"{name}.c", "-o", f"{name}.o"],
                                cwd=directory, env=self.env, capture_output=True, timeout=timeout)
        if result.returncode != 0:
            raise SystemExit(f"{self.name}: compile of {name} failed: {result.stderr.decode()}")
        return time.perf_counter() - start

    def distributed(self):
        out = subprocess.run([f"{self.sccache}/sccache", "--show-stats", "--stats-format", "json"], env=self.env, capture_output=True, text=True).stdout
        stats = json.loads(out.strip().splitlines()[-1])["stats"]
        return sum(stats["dist_compiles"].values()), stats.get("dist_errors", 0)

    def stop(self):
        if hasattr(self, "env"):
            subprocess.run([f"{self.sccache}/sccache", "--stop-server"], env=self.env, capture_output=True)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.sandbox == "docker":
            docker_cleanup(f"dev.kiln.instance=127.0.0.1:{self.server_port}")
            upstream_docker_cleanup()


def own_times(directory, count, suffix=".c", extra=()):
    """The fastest of three local `gcc -O2 -c` runs per unit: the compiler's own time."""
    own = []
    for index in range(count):
        runs = []
        for _ in range(3):
            begin = time.perf_counter()
            subprocess.run(["gcc", *extra, "-O2", "-c", f"u{index}{suffix}", "-o", "/dev/null"], cwd=directory, check=True)
            runs.append(time.perf_counter() - begin)
        own.append(min(runs))
    return own


def measure(farm, count, warmup_timeout=None):
    """Serial per-job overhead and -j3 wall time of `count` fresh units through a started farm."""
    serial_dir, parallel_dir = f"{farm.root}/serial", f"{farm.root}/parallel"
    for index in range(count):
        write(f"{serial_dir}/u{index}.c", source(1, index))
        write(f"{parallel_dir}/u{index}.c", source(2, index))
    write(f"{serial_dir}/warmup.c", source(0, 999))
    farm.compile(serial_dir, "warmup", timeout=warmup_timeout)  # uploads the toolchain; not measured
    if warmup_timeout and farm.distributed()[0] != 1:
        raise SystemExit(f"{farm.name}: the warm-up compile was not distributed")
    own = own_times(serial_dir, count)
    job = [farm.compile(serial_dir, f"u{index}") for index in range(count)]
    start = time.perf_counter()
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda index: farm.compile(parallel_dir, f"u{index}"), range(count)))
    wall = time.perf_counter() - start
    distributed, errors = farm.distributed()
    if distributed != 2 * count + 1 or errors:
        raise SystemExit(f"{farm.name}: {distributed} of {2 * count + 1} compiles distributed, {errors} errors; see {farm.root}")
    overhead = [j - o for j, o in zip(job, own)]
    return {"wall": wall, "overhead": statistics.mean(overhead), "job": statistics.mean(job), "own": statistics.mean(own)}


def run_farm(name, root, options, port, sandbox="overlay", warmup_timeout=None):
    farm = Farm(name, root, options.kiln, options.sccache, port, sandbox)
    try:
        farm.start()
        return measure(farm, options.files, warmup_timeout)
    finally:
        farm.stop()


def replay_overhead(root, options):
    """Per-job overhead of upstream's docker CLI sequence on a warm container (see docker_replay)."""
    directory = f"{root}/replay"
    for index in range(options.files):
        write(f"{directory}/u{index}.c", source(3, index))
        subprocess.run(["gcc", "-E", f"u{index}.c", "-o", f"u{index}.i"], cwd=directory, check=True)
    toolchain = f"{root}/gcc-toolchain.tar.gz"
    subprocess.run([f"{options.sccache}/sccache", "--package-toolchain", "/usr/bin/gcc", toolchain], check=True, capture_output=True,
                   env={**os.environ, "SCCACHE_DIR": f"{root}/replay-cache", "SCCACHE_SERVER_PORT": "10799", "SCCACHE_IDLE_TIMEOUT": "0"})
    own = own_times(directory, options.files, ".i", ("-x", "cpp-output"))
    replay = Replay(toolchain, upstream_base_image())
    try:
        replay.job(directory, "u0", os.environ)  # warm-up
        job = [replay.job(directory, f"u{index}", os.environ) for index in range(options.files)]
    finally:
        replay.close()
    return statistics.mean(j - o for j, o in zip(job, own))


def compare_docker(root, options):
    overlay = run_farm("sccache-dist", root, options, 10720)
    kiln = run_farm("kiln", root, options, 10730, "docker")
    upstream, why = None, ""
    upstream_base_image()
    try:
        upstream = run_farm("sccache-dist-docker", root, options, 10740, "docker", warmup_timeout=120)
    except (subprocess.TimeoutExpired, SystemExit) as error:
        why = "timed out" if isinstance(error, subprocess.TimeoutExpired) else str(error)
    finally:
        docker_cleanup("dev.kiln.bench=1")
    print(f"workload: {options.files} translation units, gcc -O2, sccache 0.4.0 client, 1 build server, docker sandboxes on one engine")
    print(f"kiln docker farm: per-job overhead {kiln['overhead'] * 1000:.1f}ms, -j3 wall {kiln['wall']:.2f}s")
    if upstream:
        print(f"sccache-dist docker farm: per-job overhead {upstream['overhead'] * 1000:.1f}ms, -j3 wall {upstream['wall']:.2f}s")
        print(f"ratio of per-job overhead (sccache-dist / kiln): {upstream['overhead'] / kiln['overhead']:.2f}x")
        return
    replay = replay_overhead(root, options)
    estimate = overlay["overhead"] + replay
    print(f"sccache-dist 0.4.0's docker builder did not run here ({why}); comparing against an estimate instead:")
    print(f"  its overlay farm's per-job overhead {overlay['overhead'] * 1000:.1f}ms (same run)")
    print(f"  + a replay of its per-job docker CLI sequence on a warm container {replay * 1000:.1f}ms")
    print(f"{'':44}{'sccache-dist (est.)':>20}{'kiln docker':>14}{'sccache-dist / kiln':>22}")
    print(f"{'mean per-job overhead, estimate':44}{estimate * 1000:>18.1f}ms{kiln['overhead'] * 1000:>12.1f}ms{estimate / kiln['overhead']:>21.2f}x")
    print(f"{'mean per-job overhead, replay alone (floor)':44}{replay * 1000:>18.1f}ms{kiln['overhead'] * 1000:>12.1f}ms{replay / kiln['overhead']:>21.2f}x")


def main():
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--kiln", required=True)
    arguments.add_argument("--sccache", required=True)
    arguments.add_argument("--files", type=int, default=24)
    arguments.add_argument("--farms", default="sccache-dist,kiln", help="also: mixed (sccache-dist scheduler + Kiln builder)")
    arguments.add_argument("--sandbox", default="overlay", choices=["overlay", "docker"])
    options = arguments.parse_args()
    root = tempfile.mkdtemp(prefix="kiln-bench-")
    os.chmod(root, 0o711)  # a root builder's jobs run as uid 65532, which must reach build_dir
    count = options.files
    results = {}
    try:
        if options.sandbox == "docker":
            return compare_docker(root, options)
        for offset, name in enumerate(options.farms.split(",")):
            results[name] = run_farm(name, root, options, 10720 + 10 * offset)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, result in results.items():
        print(f"{name}: " + ", ".join(f"{key} {value * 1000:.1f}ms" for key, value in result.items()))
    base, kiln = results["sccache-dist"], results["kiln"]
    print(f"workload: {count} translation units, gcc -O2, sccache 0.4.0 client, 1 build server, every compile distributed")
    print(f"{'':28}{'sccache-dist 0.4.0':>20}{'kiln':>12}{'kiln / sccache-dist':>22}")
    print(f"{'parallel wall time (-j3)':28}{base['wall']:>19.2f}s{kiln['wall']:>11.2f}s{kiln['wall'] / base['wall']:>22.2f}")
    print(f"{'mean job time (serial)':28}{base['job'] * 1000:>18.1f}ms{kiln['job'] * 1000:>10.1f}ms{kiln['job'] / base['job']:>22.2f}")
    print(f"{'mean compiler time (local)':28}{base['own'] * 1000:>18.1f}ms{kiln['own'] * 1000:>10.1f}ms")
    print(f"{'mean per-job overhead':28}{base['overhead'] * 1000:>18.1f}ms{kiln['overhead'] * 1000:>10.1f}ms{kiln['overhead'] / base['overhead']:>22.2f}")


if __name__ == "__main__":
    sys.exit(main())

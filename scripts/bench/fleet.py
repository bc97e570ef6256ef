"""Driver of scripts/bench/fleet: a fleet of cold CI runners building the same project at once.

N separate sccache 0.4.0 clients (each with its own empty local and toolchain caches, its own port) build the same
Debian source package with `make -jJ` at the same moment, through one farm: the real sccache-dist 0.4.0 (its
scheduler and overlay build server) and then Kiln's (scheduler and builder, release build). Like CI runners, each
runner has its own copy of the source but sees it at the same path: each runs in its own mount namespace with its
copy bind-mounted there. Farm CPU seconds are the CPU time of a cgroup each farm's processes start in, so every
process they start (compilers, bubblewrap, tar, in whatever other cgroups Kiln puts its jobs) is counted: the v1
`cpuacct` hierarchy where there is one (Kiln never moves jobs there), otherwise cgroup v2 `cpu.stat` (Kiln's job
cgroups are then made below the server's own).
"""
import argparse, glob, json, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
from compare_sccache_dist import Farm, own_cpu_seconds, write

SHARED_PATH = "/tmp/kiln-fleet-src"

RUNNER = r"""
set -eu
mount --bind "$COPY" "$SHARED"
# The client gives its daemon 10 s to start; on a loaded 2-core machine that can pass once.
"$SCCACHE" --start-server >/dev/null || "$SCCACHE" --start-server >/dev/null
make -C "$SHARED/src" -j"$JOBS" linux-noreadline CC="$SCCACHE gcc" >"$LOGS/make.log" 2>&1
"$SCCACHE" --show-stats --stats-format json | tail -n 1 >"$LOGS/stats.json"
"$SCCACHE" --stop-server >/dev/null
"""


class CPUAccount:
    """A cgroup for one farm: its processes start there, it reads their CPU seconds, and it is removed after."""

    def __init__(self, name):
        if os.path.isdir("/sys/fs/cgroup/cpuacct"):
            self.path, self.v2 = f"/sys/fs/cgroup/cpuacct/kiln-fleet-{name}", False
        elif os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            own = open("/proc/self/cgroup").read().split("::", 1)[1].strip()
            self.path, self.v2 = f"/sys/fs/cgroup{own.rstrip('/')}/kiln-fleet-{name}", True
        else:
            raise SystemExit("no cgroup hierarchy to account the farms' CPU time in")
        os.makedirs(self.path, exist_ok=True)
        self.procs = f"{self.path}/cgroup.procs"

    def seconds(self):
        if not self.v2:
            return int(open(f"{self.path}/cpuacct.usage").read()) / 1e9
        usage = dict(line.split() for line in open(f"{self.path}/cpu.stat"))
        return int(usage["usage_usec"]) / 1e6

    def remove(self):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


def run_fleet(farm, options, source):
    runners = []
    for index in range(options.clients):
        root = f"{farm.root}/runner{index}"
        copy = f"{root}/checkout"
        shutil.copytree(source, copy, symlinks=True)
        write(f"{root}/client.conf", f'[dist]\nscheduler_url = "http://127.0.0.1:{farm.scheduler_port}"\ntoolchains = []\n'
              f'cache_dir = "{root}/dist-cache"\n[dist.auth]\ntype = "token"\ntoken = "bench-client-token"\n')
        env = {**os.environ, "SCCACHE_CONF": f"{root}/client.conf", "SCCACHE_DIR": f"{root}/local-cache",
               "SCCACHE_SERVER_PORT": str(farm.client_port + 1 + index), "SCCACHE_CACHED_CONF": f"{root}/cached-config",
               "SCCACHE_IDLE_TIMEOUT": "0", "SCCACHE_ERROR_LOG": f"{root}/client.log", "COPY": copy, "SHARED": SHARED_PATH,
               "SCCACHE": f"{options.sccache}/sccache", "JOBS": str(options.jobs), "LOGS": root}
        runners.append((root, env))

    def build(runner):
        root, env = runner
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", RUNNER], env=env, capture_output=True, text=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(options.clients) as pool:
        results = list(pool.map(build, runners))
    wall = time.perf_counter() - start
    cpu = farm.account.seconds()
    distributed = local = 0
    for (root, _), result in zip(runners, results):
        if result.returncode != 0:
            log = open(root + "/make.log").read()[-3000:] if os.path.exists(root + "/make.log") else "(make did not start)"
            raise SystemExit(f"{farm.name}: a runner's build failed: {result.stderr}\n{log}")
        stats = json.load(open(f"{root}/stats.json"))["stats"]
        distributed += sum(stats["dist_compiles"].values())
        local += stats.get("dist_errors", 0) + sum(stats.get("not_cached", {}).values())
    objects = sum(1 for name in os.listdir(f"{runners[0][0]}/checkout/src") if name.endswith(".o"))
    return {"cpu": cpu, "wall": wall, "distributed": distributed, "compiles": objects * options.clients}


def served_by_source(farm):
    """How Kiln's builders served their jobs, summed over their /metrics (kiln_builder_results_total by source), and
    how many of their calls to Redis failed (kiln_builder_shared_cache_total{event="error"}), with the first such
    error their logs name: after one a builder leaves Redis alone for 5 s, and its jobs meanwhile are not shared."""
    sources = dict.fromkeys(("built", "shared", "coalesced", "hit", "redis errors"), 0)
    for index in range(farm.servers):
        text = urllib.request.urlopen(f"http://127.0.0.1:{farm.metrics_port + index}/metrics", timeout=5).read().decode()
        for source, count in re.findall(r'kiln_builder_results_total\{source="([a-z]+)"\} ([0-9.e+]+)', text):
            sources[source] = sources.get(source, 0) + int(float(count))
        for count in re.findall(r'kiln_builder_shared_cache_total\{event="error"\} ([0-9.e+]+)', text):
            sources["redis errors"] += int(float(count))
    if sources["redis errors"]:
        for log in sorted(glob.glob(farm.root + "/*.log")):
            with open(log, errors="replace") as lines:
                first = next((line.strip() for line in lines if "shared result cache unavailable" in line), None)
            if first:
                sources["first redis error"] = first[:300]
                break
    return sources


def cpu_split(farm, total):
    """The farm's CPU seconds by who spent them: the scheduler's, the build servers' and Redis's own processes, and
    everything they started (compilers, sandboxes), which is the rest of the farm's cgroup."""
    split = {"scheduler": 0.0, "build servers": 0.0, "redis": 0.0}
    for process in farm.processes:
        role = "redis" if "redis" in process.args[0] else "scheduler" if "scheduler" in process.args else "build servers"
        split[role] += own_cpu_seconds(process.pid)
    split["started by them"] = total - sum(split.values())
    return split


def run_farm(name, port, extra, root, options, redis_port, shared):
    """One fleet through one farm started for it (and stopped after): its CPU, wall time and, for Kiln, how its
    builders served the jobs. Both farms run as their users run them, at their default log levels."""
    farm = Farm(name, root, options.kiln, options.sccache, port, server_extra=extra, servers=options.builders, metrics_port=port + 40)
    farm.account = CPUAccount(name)
    farm.cgroup_procs = farm.account.procs
    try:
        if name == "kiln" and shared:
            farm.spawn("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        farm.start(client=False)
        result = run_fleet(farm, options, options.source)
        result["split"] = cpu_split(farm, result["cpu"])
        if name == "kiln":
            result["sources"] = served_by_source(farm)
    finally:
        farm.stop()
        farm.account.remove()
    shutil.rmtree(farm.root, ignore_errors=True)
    return result


def main():
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--kiln", required=True)
    arguments.add_argument("--sccache", required=True)
    arguments.add_argument("--source", required=True)
    arguments.add_argument("--clients", type=int, default=4)
    arguments.add_argument("--jobs", type=int, default=2)
    arguments.add_argument("--builders", type=int, default=1)
    arguments.add_argument("--rounds", type=int, default=1, help="interleaved rounds (sccache-dist, then Kiln, in each); medians are printed")
    options = arguments.parse_args()
    os.makedirs(SHARED_PATH, exist_ok=True)
    root = tempfile.mkdtemp(prefix="kiln-fleet-")
    os.chmod(root, 0o711)  # a root builder's jobs run as uid 65532, which must reach build_dir
    # max_jobs: Kiln's scheduler never gives a server more than its slots (+1), sccache-dist's gives up to ten
    # jobs per core; with room for the whole fleet every compile reaches the farm in both.
    # With several builders, Kiln's share one Redis (started in the farm's cgroup: its CPU is the farm's).
    redis_port = 10799
    shared = f'[result_cache]\nshared_url = "redis://127.0.0.1:{redis_port}"\n' if options.builders > 1 else ""
    farms = [("sccache-dist", 10760, ""), ("kiln", 10780, "max_jobs = 24\n" + shared)]
    rounds = []
    try:
        for _ in range(options.rounds):
            rounds.append({name: run_farm(name, port, extra, root, options, redis_port, shared) for name, port, extra in farms})
    finally:
        shutil.rmtree(root, ignore_errors=True)
        try:
            os.rmdir(SHARED_PATH)
        except OSError:
            pass
    project = os.path.basename(options.source.rstrip("/"))
    servers = "one build server" if options.builders == 1 else f"{options.builders} build servers (Kiln's sharing one Redis)"
    print(f"fleet: {options.clients} sccache 0.4.0 clients with empty caches build {project} at once (make -j{options.jobs}), {servers}")
    if len(rounds) > 1:
        print(f"{len(rounds)} interleaved rounds; farm CPU seconds sccache-dist / kiln (ratio) per round: " + ", ".join(
            f"{r['sccache-dist']['cpu']:.2f} / {r['kiln']['cpu']:.2f} ({r['kiln']['cpu'] / r['sccache-dist']['cpu']:.2f})" for r in rounds))
        print("medians:")
    median = lambda name, key: statistics.median(r[name][key] for r in rounds)
    ratio = lambda key: statistics.median(r["kiln"][key] / r["sccache-dist"][key] for r in rounds)
    print(f"{'':28}{'sccache-dist 0.4.0':>20}{'kiln':>12}{'kiln / sccache-dist':>22}")
    for label, key in (("farm CPU seconds", "cpu"), ("wall time", "wall")):
        print(f"{label:28}{median('sccache-dist', key):>19.2f}s{median('kiln', key):>11.2f}s{ratio(key):>22.2f}")
    for name, *_ in farms:
        split = {role: statistics.median(r[name]["split"][role] for r in rounds) for role in rounds[0][name]["split"]}
        print(f"{'  ' + name + ' CPU split':28}" + ", ".join(f"{role} {seconds:.2f}s" for role, seconds in split.items() if seconds or role != "redis"))
    distributed = {name: (sum(r[name]["distributed"] for r in rounds), sum(r[name]["compiles"] for r in rounds)) for name, *_ in farms}
    print(f"{'compiles distributed':28}{distributed['sccache-dist'][0]:>15}/{distributed['sccache-dist'][1]:<4}"
          f"{distributed['kiln'][0]:>7}/{distributed['kiln'][1]:<4}")
    sources = {source: sum(r["kiln"]["sources"][source] for r in rounds) for source in ("built", "shared", "coalesced", "hit")}
    print(f"kiln builders{' (all rounds)' if len(rounds) > 1 else ''}: {sources['built']} compiled, {sources['coalesced']} shared a running "
          f"identical job on the same builder, {sources['shared']} served from Redis (another builder's result or build), "
          f"{sources['hit']} served from their own result cache")
    compiled = [r["kiln"]["sources"]["built"] for r in rounds]
    if len(set(compiled)) > 1:
        print(f"kiln compiles per round: {', '.join(map(str, compiled))} (more than the distinct units: identical jobs built twice)")
    errors = sum(r["kiln"]["sources"]["redis errors"] for r in rounds)
    if errors:
        first = next((r["kiln"]["sources"]["first redis error"] for r in rounds if "first redis error" in r["kiln"]["sources"]),
                     "(not in the builders' logs)")
        print(f"kiln builders' Redis calls that failed: {errors} (each pauses that builder's sharing for 5 s); the first: {first}")
    if any(count != total for count, total in distributed.values()):
        print("WARNING: not every compile was distributed; the CPU seconds do not cover the same work")


if __name__ == "__main__":
    sys.exit(main())

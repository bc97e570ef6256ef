"""Driver of scripts/bench/speed: Kiln against the real sccache-dist 0.4.0, side by side, in one run.

Three farms run at once on loopback, each with its own real sccache 0.4.0 client: Kiln (Kiln's scheduler and
builder), mixed (sccache-dist's scheduler with Kiln's builder) and sccache-dist (its scheduler and overlay build
server); a fourth client has dist off. Every measure is taken in interleaved rounds (each round visits every farm
in a rotated order) and the medians are printed with their ratios:

* farm-added time per job: trivial distinct translation units compiled one at a time, the mean time per unit
  through a farm minus the same through the client with dist off, in the same round;
* CPU per job of the servers' own processes (scheduler and build server, children excluded; the kernel's CPU
  clock of each process, to the nanosecond);
* a Debian package (curl, 200 translation units) built with `make -j2 CC="sccache gcc"` against local `make -j2`,
  with the farm's CPU per job (a cgroup each farm's processes start in, so compilers and sandboxes count) split
  into the servers' own and the rest (sandboxes and compilers: the same compiler on the same preprocessed file in
  every farm), each build's whole CPU (the client's side too: make, the sccache server and what it runs), the
  compiles a farm failed, and the same client with dist off (what the client's own work costs on these cores);
* a second runner: the same trivial units sent to Kiln again with the client's own cache emptied, so that Kiln's
  builder answers from its result cache (no sandbox, no compiler; sccache-dist has no such cache). Below zero
  means faster than compiling locally;
* Kiln's docker sandbox: farm-added time per trivial job (sccache-dist's docker builder does not run here);
* Kiln's per-phase budget per job, from its builder's and scheduler's /metrics.
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request
from compare_sccache_dist import Farm, cgroup_entry, own_cpu_seconds, write
from fleet import CPUAccount

FARMS = ["kiln", "kiln-tmpfs", "mixed", "mixed-tmpfs", "sccache-dist"]
# Kiln's builder again with its jobs_dir on a tmpfs (its jobs' layers in memory, as Bazel's --sandbox_base).
TMPFS = "/dev/shm"


def rotated(names, by):
    """`names` started `by` places further on: each round visits the farms in another order."""
    return names[by % len(names):] + names[:by % len(names)]


def settle_disk():
    """Writes back what the warm-ups left dirty (every builder's unpacked toolchain, some hundreds of MB) before
    anything is timed: the kernel otherwise flushes it a few seconds into the first round, stalling the machine for
    a third of a second (compiles and job_state reports alike) inside whichever farm comes first."""
    os.sync()


def trivial(tag, index):
    """A distinct, include-free translation unit: the compiler's own work is as small as it gets."""
    return f"int kiln_bench_{tag}_{index}(int x) {{ return x * {index + 3} + {len(tag)}; }}\n"



class Bench:
    def __init__(self, options, root):
        self.options, self.root = options, root
        # CPU accounts (cgroups): each farm's processes; each client's side (its sccache server and the make).
        self.farms, self.accounts, self.client_accounts = {}, {}, {}

    def start(self):
        for offset, name in enumerate(FARMS):
            port = 10720 + 10 * offset
            extra = f'metrics_addr = "127.0.0.1:{port + 5}"\n' if name != "sccache-dist" else ""
            farm = Farm(name, self.root, self.options.kiln, self.options.sccache, port, server_extra=extra,
                        jobs_dir=TMPFS if name.endswith("-tmpfs") else None)
            self.accounts[name] = CPUAccount(f"speed-{name}")
            self.client_accounts[name] = CPUAccount(f"speed-client-{name}")
            farm.cgroup_procs = self.accounts[name].procs
            farm.client_cgroup_procs = self.client_accounts[name].procs
            self.farms[name] = farm
            farm.start()
        self.local = Farm("local", self.root, self.options.kiln, self.options.sccache, 10790)
        write(f"{self.local.root}/client.conf", f'[dist]\ntoolchains = []\ncache_dir = "{self.local.root}/client-dist"\n')
        self.local.env = {**os.environ, "SCCACHE_CONF": f"{self.local.root}/client.conf", "SCCACHE_DIR": f"{self.local.root}/cache",
                          "SCCACHE_SERVER_PORT": "10792", "SCCACHE_IDLE_TIMEOUT": "0", "SCCACHE_CACHED_CONF": f"{self.local.root}/cached"}
        for name in ["local", "client"]:
            self.client_accounts[name] = CPUAccount(f"speed-client-{name}")
        subprocess.run([f"{self.options.sccache}/sccache", "--start-server"], env=self.local.env, check=True, capture_output=True,
                       preexec_fn=cgroup_entry(self.client_accounts["client"].procs))
        for name, farm in self.farms.items():  # the toolchain upload, not measured
            directory = f"{farm.root}/warmup"
            write(f"{directory}/warmup.c", trivial("warmup", 0))
            farm.compile(directory, "warmup")
        settle_disk()


    def stop(self):
        # A start that failed half-way has no local client yet; its farms are stopped all the same.
        if hasattr(self, "local"):
            subprocess.run([f"{self.options.sccache}/sccache", "--stop-server"], env=self.local.env, capture_output=True)
        for farm in self.farms.values():
            farm.stop()
        for account in [*self.accounts.values(), *self.client_accounts.values()]:
            account.remove()

    def batch(self, farm, tag):
        """Mean seconds per trivial unit compiled one at a time, and the servers' CPU seconds per unit."""
        directory = f"{farm.root}/trivial-{tag}"
        for index in range(self.options.units):
            write(f"{directory}/u{index}.c", trivial(tag, index))
        pids = [process.pid for process in farm.processes] if farm is not self.local else []
        cpu_before = [own_cpu_seconds(pid) for pid in pids]
        start = time.perf_counter()
        for index in range(self.options.units):
            farm.compile(directory, f"u{index}")
        mean = (time.perf_counter() - start) / self.options.units
        cpu = [(own_cpu_seconds(pid) - before) / self.options.units for pid, before in zip(pids, cpu_before)]
        return mean, cpu

    def trivial_rounds(self):
        added = {name: [] for name in FARMS}
        cpu = {name: ([], []) for name in FARMS}
        for round_number in range(self.options.rounds):
            order = rotated(FARMS, round_number)
            local, _ = self.batch(self.local, f"local{round_number}")
            for name in order:
                mean, (scheduler_cpu, server_cpu) = self.batch(self.farms[name], f"{name.replace('-', '_')}{round_number}")
                added[name].append(mean - local)
                cpu[name][0].append(scheduler_cpu)
                cpu[name][1].append(server_cpu)
        for name, farm in self.farms.items():
            distributed, errors = farm.distributed()
            expected = 1 + self.options.rounds * self.options.units
            if distributed != expected or errors:
                raise SystemExit(f"{name}: {distributed} of {expected} compiles distributed, {errors} errors; see {farm.root}")
        return ({name: statistics.median(values) for name, values in added.items()},
                {name: tuple(statistics.median(values) for values in pair) for name, pair in cpu.items()})

    def hit_rounds(self):
        """Farm-added time per job when Kiln's builder has every result: each trivial round's units again, through a
        client whose own cache was emptied (another runner of the same commit)."""
        farm, added = self.farms["kiln"], []
        for round_number in range(self.options.rounds):
            subprocess.run([f"{farm.sccache}/sccache", "--stop-server"], env=farm.env, capture_output=True)
            shutil.rmtree(f"{farm.root}/client-cache", ignore_errors=True)
            farm.start_client()
            local, _ = self.batch(self.local, f"hitlocal{round_number}")
            mean, _ = self.batch(farm, f"kiln{round_number}")  # the same files as trivial round `round_number`
            added.append(mean - local)
        return statistics.median(added)

    def package_rounds(self):
        """`make -j2` of the package through each farm and locally, interleaved; a fresh client cache each time.
        Also the whole build's CPU seconds: the client's side (make, its compiler commands, the sccache server with
        what it runs) and the farm's cgroup; on two busy cores a build's wall time cannot fall below half of it."""
        source = self.options.package
        walls = {name: [] for name in FARMS + ["local", "client"]}
        build_cpu = {name: [] for name in FARMS + ["local", "client"]}
        farm_cpu = {name: [] for name in FARMS}
        server_cpu = {name: [] for name in FARMS}
        fell_back = {name: 0 for name in FARMS}  # compiles a farm failed, which the client then ran itself
        for round_number in range(self.options.package_rounds):
            order = ["local", "client"] + rotated(FARMS, round_number)
            for name in order:
                subprocess.run(["make", "clean"], cwd=source, check=True, capture_output=True)
                # Every build's compile commands are new to every cache (the client's and Kiln's result cache).
                compiler = f"gcc -DKILN_BENCH_ROUND={round_number}{name.replace('-', '_')}"
                # local: gcc itself; client: the sccache client alone, dist off, its cache cold (it preprocesses,
                # hashes, then compiles locally: what the client's own work costs on these cores).
                farm = self.farms.get(name)
                env = self.local.env if name == "client" else farm.env if farm else None
                cc = compiler if name == "local" else f"{self.options.sccache}/sccache {compiler}"
                accounts = [self.client_accounts[name]] + ([self.accounts[name]] if farm else [])
                before_cpu = [account.seconds() for account in accounts]
                if farm:
                    before_jobs, before_errors = farm.distributed()
                    before_servers = sum(own_cpu_seconds(process.pid) for process in farm.processes)
                start = time.perf_counter()
                result = subprocess.run(["make", f"-j{self.options.make_jobs}", f"CC={cc}"], cwd=source, env=env, capture_output=True,
                                        preexec_fn=cgroup_entry(self.client_accounts[name].procs))
                walls[name].append(time.perf_counter() - start)
                if result.returncode != 0:
                    raise SystemExit(f"{name}: make failed: {result.stderr.decode()[-2000:]}")
                spent = [account.seconds() - before for account, before in zip(accounts, before_cpu)]
                build_cpu[name].append(sum(spent))
                if not farm:
                    continue
                jobs, errors = (after - before for after, before in zip(farm.distributed(), (before_jobs, before_errors)))
                fell_back[name] += errors
                if jobs < 150:
                    raise SystemExit(f"{name}: only {jobs} compiles of the package were distributed; see {farm.root}")
                farm_cpu[name].append(spent[1] / jobs)
                server_cpu[name].append((sum(own_cpu_seconds(process.pid) for process in farm.processes) - before_servers) / jobs)
        return tuple({name: statistics.median(values) for name, values in series.items()}
                     for series in (walls, build_cpu, farm_cpu, server_cpu)) + (fell_back,)

    def docker_overhead(self):
        farm = Farm("kiln", f"{self.root}/docker", self.options.kiln, self.options.sccache, 10770, sandbox="docker")
        try:
            farm.start()
            directory = f"{farm.root}/warmup"
            write(f"{directory}/warmup.c", trivial("dwarmup", 0))
            farm.compile(directory, "warmup", timeout=300)
            settle_disk()
            added = []
            for round_number in range(self.options.rounds):
                local, _ = self.batch(self.local, f"dlocal{round_number}")
                mean, _ = self.batch(farm, f"docker{round_number}")
                added.append(mean - local)
            distributed, errors = farm.distributed()
            if distributed != 1 + self.options.rounds * self.options.units or errors:
                raise SystemExit(f"docker: {distributed} compiles distributed, {errors} errors; see {farm.root}")
            return statistics.median(added)
        finally:
            farm.stop()


def phase_totals(url, prefix):
    """Each phase histogram's total seconds and count on a /metrics page: {phase: (sum, count)}."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    sums, counts = {}, {}
    for line in text.splitlines():
        match = re.match(rf'{prefix}_(sum|count)\{{phase="([a-z_]+)"\}} ([0-9.e+-]+)', line)
        if match:
            (sums if match.group(1) == "sum" else counts)[match.group(2)] = float(match.group(3))
    return {phase: (sums[phase], counts.get(phase, 0)) for phase in sums}


def phase_deltas(before, after):
    """Each phase's seconds and count added between two ``phase_totals``: {phase: (seconds, count)}."""
    return {phase: (total - before.get(phase, (0.0, 0))[0], count - before.get(phase, (0.0, 0))[1])
            for phase, (total, count) in after.items()}


def phase_budget(before, after):
    """Mean seconds per job of each phase between two ``phase_totals``: {phase: (mean, count)}. The warm-up job
    (which unpacks the toolchain inside its sandbox set-up) is in `before`, so it does not weigh on the means."""
    return {phase: (seconds / count, int(count)) for phase, (seconds, count) in phase_deltas(before, after).items() if count > 0}


def ratio(value, base):
    return f"{value / base:.2f}" if base > 0 else "n/a"


def main():
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--kiln", required=True)
    arguments.add_argument("--sccache", required=True)
    arguments.add_argument("--package", help="a configured source tree to build with make (default: none)")
    arguments.add_argument("--units", type=int, default=40, help="trivial units per farm and round")
    arguments.add_argument("--rounds", type=int, default=3)
    arguments.add_argument("--package-rounds", type=int, default=3)
    arguments.add_argument("--make-jobs", type=int, default=2)
    arguments.add_argument("--docker", action="store_true", help="also Kiln's docker sandbox")
    options = arguments.parse_args()
    root = tempfile.mkdtemp(prefix="kiln-speed-")
    os.chmod(root, 0o711)  # a root builder's jobs run as uid 65532, which must reach build_dir
    bench = Bench(options, root)
    try:
        bench.start()
        pages = [("http://127.0.0.1:10725/metrics", "kiln_builder_job_phase_seconds"),
                 ("http://127.0.0.1:10735/metrics", "kiln_builder_job_phase_seconds"),
                 ("http://127.0.0.1:10720/metrics", "kiln_scheduler_alloc_phase_seconds")]
        before = [phase_totals(url, prefix) for url, prefix in pages]
        added, cpu = bench.trivial_rounds()
        budget, tmpfs_budget, scheduler_budget = (phase_budget(earlier, phase_totals(url, prefix))
                                                  for earlier, (url, prefix) in zip(before, pages))
        hit = bench.hit_rounds()
        package = bench.package_rounds() if options.package else None
        docker = bench.docker_overhead() if options.docker else None
    finally:
        bench.stop()
        shutil.rmtree(root, ignore_errors=True)
    base = added["sccache-dist"]
    print(f"\nfarm-added time per job: {options.units} trivial distinct units one at a time, median of {options.rounds} interleaved rounds")
    print(f"{'':44}{'time':>10}{'/ sccache-dist':>16}{'scheduler CPU':>16}{'server CPU':>13}")
    labels = {"local": "local make", "client": "sccache client alone (dist off, cold cache)",
              "kiln": "Kiln scheduler + Kiln builder", "kiln-tmpfs": f"the same, jobs_dir = \"{TMPFS}\"",
              "mixed": "sccache-dist scheduler + Kiln builder", "mixed-tmpfs": f"the same, jobs_dir = \"{TMPFS}\"",
              "sccache-dist": "sccache-dist 0.4.0 (scheduler + server)"}
    for name in FARMS:
        print(f"{labels[name]:44}{added[name] * 1000:>8.1f}ms{ratio(added[name], base):>16}"
              f"{cpu[name][0] * 1000:>14.2f}ms{cpu[name][1] * 1000:>11.2f}ms")
    print(f"CPU per job, Kiln / sccache-dist: scheduler {ratio(cpu['kiln'][0], cpu['sccache-dist'][0])}, "
          f"build server {ratio(cpu['kiln'][1], cpu['sccache-dist'][1])} ({ratio(cpu['kiln-tmpfs'][1], cpu['sccache-dist'][1])} with jobs_dir on tmpfs)")
    print(f"{'Kiln, a second runner (result cache hits)':44}{hit * 1000:>8.1f}ms"
          "   (no sandbox, no compiler; below zero: faster than compiling locally)")
    print(f"\nKiln's per-job budget (means over the trivial rounds' jobs, the warm-up excluded; phases may overlap):")
    for phase, (mean, count) in budget.items():
        tmpfs_mean = tmpfs_budget.get(phase, (0.0, 0))[0]
        print(f"  builder   {phase:18}{mean * 1000:>8.2f}ms  ({count} jobs; {tmpfs_mean * 1000:.2f}ms with jobs_dir on tmpfs)")
    for phase, (mean, count) in scheduler_budget.items():
        print(f"  scheduler {phase:18}{mean * 1000:>8.2f}ms  ({count} jobs)")
    if package:
        walls, build_cpu, farm_cpu, server_cpu, fell_back = package
        print(f"\n{os.path.basename(options.package.rstrip('/'))}: make -j{options.make_jobs}, median of {options.package_rounds} interleaved rounds")
        print(f"{'':44}{'wall':>10}{'/ local':>10}{'/ sccache-dist':>16}{'build CPU':>11}{'/ local':>9}"
              f"{'farm CPU/job':>14}{'servers':>9}{'the rest':>10}{'failed':>8}")
        for name in ["local", "client"] + FARMS:
            line = (f"{labels[name]:44}{walls[name]:>9.2f}s{ratio(walls[name], walls['local']):>10}{ratio(walls[name], walls['sccache-dist']):>16}"
                    f"{build_cpu[name]:>10.1f}s{ratio(build_cpu[name], build_cpu['local']):>9}")
            if name in farm_cpu:
                line += (f"{farm_cpu[name] * 1000:>12.1f}ms{server_cpu[name] * 1000:>7.1f}ms{(farm_cpu[name] - server_cpu[name]) * 1000:>8.1f}ms"
                         f"{fell_back[name]:>8}")
            print(line)
        print(f"failed: the compiles of all {options.package_rounds} rounds that the farm failed and the client then ran itself")
        print(f"farm CPU per cold job, Kiln / sccache-dist: {ratio(farm_cpu['kiln'], farm_cpu['sccache-dist'])} "
              f"({ratio(farm_cpu['kiln-tmpfs'], farm_cpu['sccache-dist'])} with jobs_dir on tmpfs)")
        # A farm's CPU per job is its servers' own processes (scheduler, build server) and the rest of its cgroup:
        # the jobs' sandboxes and compilers, the same compiler on the same preprocessed file in every farm.
        rest = farm_cpu["kiln"] - server_cpu["kiln"]
        print(f"Kiln's servers {server_cpu['kiln'] * 1000:.1f}ms per job against sccache-dist's {server_cpu['sccache-dist'] * 1000:.1f}ms; "
              f"Kiln's sandboxes and compilers alone are {ratio(rest, farm_cpu['sccache-dist'])} of sccache-dist's whole farm CPU per job")
        print(f"build CPU: the client's side (make, the sccache server and what it runs) and the farm's; two busy cores take at least "
              f"half of it in wall time: {build_cpu['kiln'] / 2:.1f}s for Kiln's farm, {build_cpu['kiln'] / 2 / walls['local']:.2f}x local make's wall")
    if docker is not None:
        print(f"\nKiln docker sandbox: farm-added time per trivial job {docker * 1000:.1f}ms "
              f"(sccache-dist 0.4.0's docker builder against Kiln's: scripts/bench/compare-sccache-dist --sandbox docker)")


if __name__ == "__main__":
    sys.exit(main())

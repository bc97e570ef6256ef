"""Driver of scripts/bench/reapi: a REAPI action against an sccache job on the same Kiln farm, in one run.

One Kiln farm (scheduler with `[reapi]`, one overlay builder) serves both paths. Debian's lua5.4 (32 C files, a
library and a program: 34 actions) is built with Bazel 4.2.3, one action at a time (`--jobs=1`), in interleaved
rounds: locally (standalone), remotely on the farm cold, and again after `bazel clean` as remote cache hits; and
the same 32 compiles go one at a time through the real sccache 0.4.0 client to the same farm, against the same
compiles run locally. Each round salts the compiles (`-DKILN_BENCH_ROUND=…`), so every cache starts cold. Printed:
medians of the walls, the farm-added time per REAPI action ((remote − local) / actions, within each round) beside
the farm-added time per sccache job ((through sccache − local gcc) / compiles, within each round), their medians
over the rounds and their ratio.
"""
import argparse, os, re, shutil, statistics, subprocess, tempfile, time
from compare_sccache_dist import CLIENT_TOKEN, Farm, write
from speed import phase_deltas, phase_totals

BUILDER_METRICS = 10875

FLAGS = ["-O2", "-DLUA_USE_LINUX", "-std=gnu99"]


def build_file(sources):
    core = ", ".join(f'"{name}"' for name in sources if name not in ("lua.c", "luac.c"))
    copts = ", ".join(f'"{flag}"' for flag in FLAGS)
    return (f'cc_library(name = "core", srcs = [{core}], hdrs = glob(["*.h"]), copts = [{copts}])\n'
            f'cc_binary(name = "lua", srcs = ["lua.c"], deps = [":core"], copts = [{copts}], linkopts = ["-lm", "-ldl"])\n')


class Bench:
    def __init__(self, options, root):
        self.options, self.root = options, root
        self.reapi_port = 10868
        self.farm = Farm("kiln", root, options.kiln, options.sccache, 10860,
                         scheduler_tables=f'[reapi]\nlisten = "127.0.0.1:{self.reapi_port}"\ndir = "{root}/kiln/reapi"\n',
                         jobs_dir=options.jobs_dir, metrics_port=BUILDER_METRICS)
        # The builder's phase totals over the measured remote builds ("action") and sccache compiles ("job").
        self.phases = {"action": {}, "job": {}}
        self.workspace = f"{root}/workspace"
        self.sources = sorted(name for name in os.listdir(options.source) if name.endswith(".c"))
        shutil.copytree(options.source, self.workspace, ignore=shutil.ignore_patterns("*.o", "*.a", "lua", "luac"))
        write(f"{self.workspace}/WORKSPACE", "")
        write(f"{self.workspace}/BUILD", build_file(self.sources))

    def startup(self):
        """Bazel's startup options: one server kept across the builds (as a user's is, its JIT warm), or with
        --batch a new JVM for every command (each build then runs the remote path's Java code cold)."""
        return [f"--output_user_root={self.root}/bazel-root"] + (["--batch"] if self.options.batch else ["--max_idle_secs=900"])

    def bazel(self, arguments, salt=None):
        stubs = f"{self.options.stubs}"
        command = ["bazel"] + self.startup() + arguments
        if arguments[0] == "build":
            command += [f"--override_repository=rules_cc={stubs}/rules_cc", f"--override_repository=rules_java={stubs}/rules_java",
                        "--jobs=1", f"--copt=-DKILN_BENCH_ROUND={salt}", "//:lua"]
        start = time.perf_counter()
        result = subprocess.run(command, cwd=self.workspace, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"bazel {' '.join(arguments)} failed:\n{result.stderr[-3000:]}")
        summary = [line for line in result.stderr.splitlines() if " processes: " in line]
        return wall, summary[-1] if summary else ""

    def timed_phases(self, kind, work):
        """Runs `work`, adding the builder's phase seconds and counts over it to ``phases[kind]``."""
        page = (f"http://127.0.0.1:{BUILDER_METRICS}/metrics", "kiln_builder_job_phase_seconds")
        before = phase_totals(*page)
        result = work()
        for phase, (seconds, count) in phase_deltas(before, phase_totals(*page)).items():
            summed = self.phases[kind].get(phase, (0.0, 0))
            self.phases[kind][phase] = (summed[0] + seconds, summed[1] + count)
        return result

    def bazel_round(self, salt):
        self.bazel(["clean"])
        local, local_summary = self.bazel(["build", "--spawn_strategy=standalone"], f"{salt}_local")
        actions = int(re.search(r"(\d+) (local|standalone)", local_summary).group(1))
        remote_flag = f"--remote_executor=grpc://127.0.0.1:{self.reapi_port}"
        header = f"--remote_header=Authorization=Bearer {CLIENT_TOKEN}"
        self.bazel(["clean"])
        remote, remote_summary = self.timed_phases("action", lambda: self.bazel(["build", remote_flag, header], f"{salt}_remote"))
        # One action's command takes no --copt (so no salt): it can be a remote cache hit even on a cold round.
        ran = sum(int(count) for count in re.findall(r"(\d+) remote(?: cache hit)?[,.]", remote_summary))
        if ran != actions or re.search(r"\d+ (local|linux-sandbox|standalone)", remote_summary):
            raise SystemExit(f"not every action ran on the farm: {remote_summary}")
        self.bazel(["clean"])
        hits, hits_summary = self.bazel(["build", remote_flag, header], f"{salt}_remote")
        if f"{actions} remote cache hit" not in hits_summary:
            raise SystemExit(f"not every action was a remote cache hit: {hits_summary}")
        return actions, local, remote, hits

    def compiles(self, salt, through_sccache):
        """Seconds for the 32 compiles one at a time, with gcc here or through sccache to the farm."""
        directory = f"{self.root}/sccache-{salt}"
        shutil.copytree(self.options.source, directory, ignore=shutil.ignore_patterns("*.o", "*.a", "lua", "luac"))
        prefix = [f"{self.farm.sccache}/sccache"] if through_sccache else []
        start = time.perf_counter()
        for name in self.sources:
            command = prefix + ["gcc", *FLAGS, f"-DKILN_BENCH_ROUND={salt}", "-c", name, "-o", name[:-2] + ".o"]
            subprocess.run(command, cwd=directory, env=self.farm.env, check=True, capture_output=True)
        return time.perf_counter() - start

    def run(self):
        self.farm.start()
        # The toolchain upload, Bazel's first start (its install base) and one round of each of its paths (the
        # server's JIT), not measured.
        self.compiles("warmup", True)
        self.bazel_round("warmup")
        self.phases = {"action": {}, "job": {}}
        os.sync()  # what the warm-ups left dirty (the toolchain unpack, Bazel's install base) written back first
        rounds = {key: [] for key in ("local", "remote", "hits", "gcc", "sccache")}
        actions = 0
        for number in range(self.options.rounds):
            first_bazel = number % 2 == 0
            if not first_bazel:
                rounds["gcc"].append(self.compiles(f"r{number}_gcc", False))
                rounds["sccache"].append(self.timed_phases("job", lambda: self.compiles(f"r{number}_sccache", True)))
            actions, local, remote, hits = self.bazel_round(f"r{number}")
            for key, value in (("local", local), ("remote", remote), ("hits", hits)):
                rounds[key].append(value)
            if first_bazel:
                rounds["gcc"].append(self.compiles(f"r{number}_gcc", False))
                rounds["sccache"].append(self.timed_phases("job", lambda: self.compiles(f"r{number}_sccache", True)))
        distributed, errors = self.farm.distributed()
        expected = len(self.sources) * (self.options.rounds + 1)
        if distributed != expected or errors:
            raise SystemExit(f"{distributed} of {expected} sccache compiles went to the farm, {errors} errors; see {self.farm.root}")
        self.rounds = rounds
        return actions, {key: statistics.median(values) for key, values in rounds.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--sccache", required=True)
    parser.add_argument("--source", required=True, help="lua5.4's src directory")
    parser.add_argument("--stubs", required=True, help="Tests/BazelStubs")
    # Nine: one round's farm-added time per action or job spreads from about -7 to 62 ms on this 2-core machine, against
    # a difference of a few; with five, whole runs of the same code gave ratios from 0.48 to 1.07.
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", action="store_true", help="a new Bazel JVM per command (its remote path runs cold)")
    parser.add_argument("--jobs-dir", help="the builder's jobs_dir (a tmpfs such as /dev/shm; default: under build_dir)")
    options = parser.parse_args()
    root = tempfile.mkdtemp(prefix="kiln-bench-reapi.")
    os.chmod(root, 0o755)  # the builder's jobs run as a user of their own, which must reach build_dir
    bench = Bench(options, root)
    try:
        actions, medians = bench.run()
    finally:
        bench.farm.stop()
        subprocess.run(["bazel"] + bench.startup() + ["shutdown"], cwd=bench.workspace, capture_output=True)
    compiles = len(bench.sources)
    # Paired within each round (the machine's speed drifts between rounds more than the farm adds to a job).
    rounds = bench.rounds
    reapi_rounds = [(remote - local) / actions for remote, local in zip(rounds["remote"], rounds["local"])]
    sccache_rounds = [(through - gcc) / compiles for through, gcc in zip(rounds["sccache"], rounds["gcc"])]
    reapi_added, sccache_added = statistics.median(reapi_rounds), statistics.median(sccache_rounds)
    mode = "a new Bazel JVM per command (--batch)" if options.batch else "one Bazel server, warmed by a first round"
    print(f"\nDebian lua5.4 through one Kiln farm, one action or job at a time; {mode}; medians of {options.rounds} interleaved rounds\n")
    print(f"| Bazel 4.2.3, {actions} actions | wall |\n|---|---|")
    for key, label in (("local", "local (standalone)"), ("remote", "remote on the farm, cold"), ("hits", "remote cache hits after clean")):
        print(f"| {label} | {medians[key]:.2f} s |")
    print(f"\n| {compiles} compiles | wall |\n|---|---|")
    print(f"| gcc here | {medians['gcc']:.2f} s |\n| sccache 0.4.0 to the farm, cold | {medians['sccache']:.2f} s |")
    print("\nfarm-added per round, ms: REAPI action " + ", ".join(f"{value * 1000:.1f}" for value in reapi_rounds)
          + "; sccache job " + ", ".join(f"{value * 1000:.1f}" for value in sccache_rounds))
    print(f"farm-added per REAPI action (median of the rounds): {reapi_added * 1000:.1f} ms; per sccache job: {sccache_added * 1000:.1f} ms"
          + (f"; ratio {reapi_added / sccache_added:.2f}" if sccache_added > 0 else ""))
    print("\nthe builder's budget, mean per action and per job (phases may overlap; hits and cold actions alike):")
    for phase in dict.fromkeys([*bench.phases["action"], *bench.phases["job"]]):  # in the metrics page's order
        cells = []
        for kind in ("action", "job"):
            total, count = bench.phases[kind].get(phase, (0.0, 0))
            cells.append(f"{total / count * 1000:>8.2f}ms ({int(count)})" if count else f"{'-':>10}{'':>6}")
        print(f"  {phase:18}{cells[0]:>20}{cells[1]:>20}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

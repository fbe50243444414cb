using System.CommandLine;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Reporting;
using Tomalign.Core.Simulation;
using Tomalign.Cpu;
using Tomalign.Gpu;
using Tomalign.Core.Backend.Benchmarks;
using Tomalign.Core.Backend.Verification;

namespace Tomalign.Cli;

internal static partial class Commands
{
    private static Command Verify(TextWriter stdout, TextWriter stderr)
    {
        var device = DeviceOption();
        var size = new Option<int>("--size") { Description = "Image size for the checks (default: 1024 on a GPU, 96 on ILGPU's CPU emulator)." };
        var seed = new Option<int?>("--seed") { Description = "Random seed (default: a fresh one, printed)." };
        var cmd = new Command("verify",
            "Run every GPU kernel against its CPU twin on fresh random inputs and print a table of relative errors with PASS/FAIL. " +
            "Without a GPU (or with --device cpu) the kernels run on ILGPU's CPU emulator at a small size.")
        { device, size, seed };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            var kind = ParseDevice(p.GetValue(device)!);
            if (kind == DeviceKind.Cpu) kind = DeviceKind.IlgpuCpu;
            if (kind == DeviceKind.Auto) kind = BackendFactory.HasCudaDevice() ? DeviceKind.Cuda : DeviceKind.IlgpuCpu;
            using var gpu = Backends.CreateAccelerator(kind, ctx);
            using var cpuOwner = new CpuBackend();
            var cpu = CancellableBackend.Wrap(cpuOwner, ctx.Cancel, ownsInner: false);
            int n = p.GetValue(size) is > 0 and var s ? s : gpu.Name == "ilgpu-cpu" ? 96 : 1024;
            int rngSeed = p.GetValue(seed) ?? Random.Shared.Next();
            ctx.Out.WriteLine($"Kernels on {gpu.Description}; twins on {cpu.Description}; size {n}, seed {rngSeed}");
            var rows = KernelVerifier.VerifyAll(gpu, cpu, n, rngSeed);
            ctx.Out.WriteLine($"{"kernel",-20} {"case",-36} {"max rel. error",14} {"tolerance",10} {"all written",11}  result");
            foreach (var r in rows)
                ctx.Out.WriteLine($"{r.Kernel,-20} {r.Case,-36} {r.MaxRelativeError,14:E2} {r.Tolerance,10:E1} {(r.AllWritten ? "yes" : "NO"),11}  {(r.Passed ? "PASS" : "FAIL")}");
            int failed = rows.Count(r => !r.Passed);
            ctx.Out.WriteLine(failed == 0 ? $"all {rows.Count} checks passed" : $"{failed} of {rows.Count} checks FAILED");
            return failed == 0 ? ExitCodes.Ok : ExitCodes.VerifyFailed;
        });
        return cmd;
    }

    private static Command Bench(TextWriter stdout, TextWriter stderr)
    {
        var device = DeviceOption();
        var size = new Option<int>("--size") { Description = "Image size of the simulated series.", DefaultValueFactory = _ => 512 };
        var views = new Option<int>("--views") { Description = "Number of views (tilts spread over ±60°).", DefaultValueFactory = _ => 41 };
        var repeats = new Option<int>("--repeats") { Description = "Timed repetitions per stage (the median is shown).", DefaultValueFactory = _ => 3 };
        var output = new Option<string>("--out", "-o") { Description = "Folder for the JSON report.", DefaultValueFactory = _ => "." };
        var run = new Option<bool>("--run") { Description = "Also time the whole markerless `run` (files read to tomogram written) on the CPU path and the GPU, stage by stage, and compare their tomograms and alignments (series written under OUT/bench-run)." };
        var runThickness = new Option<int?>("--thickness") { Description = "With --run: tomogram slices, binned (default: 600 unbinned pixels scaled to the size, e.g. 300 at 2048 bin 2)." };
        var runBin = new Option<int>("--bin") { Description = "With --run: binning of the aligned stack and the tomogram.", DefaultValueFactory = _ => 2 };
        var runProfiles = AxisProfilesOption();
        var cmd = new Command("bench",
            "Time each stage on a simulated series, CPU and GPU side by side, print a table and write it into tomalign.bench.json.")
        { device, size, views, repeats, output, run, runThickness, runBin, runProfiles };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            int n = p.GetValue(size), nv = Math.Max(1, p.GetValue(views)), reps = Math.Max(1, p.GetValue(repeats));
            var report = new RunReport("bench", Environment.GetCommandLineArgs().Skip(1)) { Cancel = Cancellation };
            var kind = ParseDevice(p.GetValue(device)!);
            using var cpuOwner = new CpuBackend();
            var cpu = CancellableBackend.Wrap(cpuOwner, ctx.Cancel, ownsInner: false);
            IComputeBackend? gpu = null;
            if (kind != DeviceKind.Cpu)
            {
                if (kind == DeviceKind.Auto && !BackendFactory.HasCudaDevice())
                    ctx.Log.LogInformation("No CUDA device: timing the CPU path only (use --device ilgpu-cpu to time the kernels on ILGPU's emulator).");
                else
                    gpu = Backends.CreateAccelerator(kind == DeviceKind.Auto ? DeviceKind.Cuda : kind, ctx);
            }
            using var gpuOwner = gpu;
            report.Device = gpu?.Description ?? cpu.Description;
            double step = nv > 1 ? 120.0 / (nv - 1) : 1;
            var simOptions = SimulationOptions.ForSize(n) with { TiltMin = nv > 1 ? -60 : 0, TiltMax = nv > 1 ? 60 : 0, TiltStep = step };
            var rows = new List<BenchRow>();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var series = new TiltSeriesSimulator().Simulate(simOptions, ctx.Progress("simulate"));
            rows.Add(new BenchRow("simulate", $"{n}×{n}×{series.Raw.Nz}", sw.Elapsed.TotalSeconds, null));
            var xfs = series.AligningTransforms.ToArray();
            foreach (var (label, options) in new[]
                     {
                         ("warp linear", new WarpOptions(1, Interpolation.Linear)),
                         ("warp cubic", new WarpOptions(1, Interpolation.Cubic)),
                         ("warp bin 2", new WarpOptions(2, Interpolation.Linear)),
                     })
            {
                double tc = StageBenchmark.TimeWarp(cpu, series.Raw, xfs, options, reps).TotalSeconds;
                double? tg = gpu is null ? null : StageBenchmark.TimeWarp(gpu, series.Raw, xfs, options, reps).TotalSeconds;
                rows.Add(new BenchRow(label, $"{n}×{n}×{series.Raw.Nz}", tc, tg));
            }
            // Coarse alignment's heavy part at full size (bin 1), settings and pairs as CoarseAligner builds them.
            var coarseOptions = new CoarseAlignOptions { TiltAxisDegrees = simOptions.TiltAxisDegrees };
            var settings = CoarseAligner.CorrelationSettingsFor(n, n, 1, coarseOptions);
            int px = settings.PaddedWidth, py = settings.PaddedHeight, nz = series.Raw.Nz;
            double tfc = StageBenchmark.TimeFft(cpu, px, py, nz, reps).TotalSeconds;
            double? tfg = gpu is null ? null : StageBenchmark.TimeFft(gpu, px, py, nz, reps).TotalSeconds;
            rows.Add(new BenchRow("fft r2c+c2r", $"{px}×{py}×{nz}", tfc, tfg));
            if (nz > 1)
            {
                var pairs = Enumerable.Range(1, nz - 1)
                    .Select(v => CoarseAligner.NeighbourPair(v, v - 1, series.NominalTilts, simOptions.TiltAxisDegrees, out _)).ToArray();
                double tcc = StageBenchmark.TimeCorrelation(cpu, series.Raw.Data, n, n, nz, pairs, settings, reps).TotalSeconds;
                double? tcg = gpu is null ? null : StageBenchmark.TimeCorrelation(gpu, series.Raw.Data, n, n, nz, pairs, settings, reps).TotalSeconds;
                rows.Add(new BenchRow("correlate pairs", $"{pairs.Length}×{n}² → {px}×{py}", tcc, tcg));
            }
            {
                int bpRows = Math.Min(n, 32), thickness = Math.Max(8, n / 4);
                double tbc = StageBenchmark.TimeBackprojection(cpu, series.Raw, series.NominalTilts, bpRows, thickness, reps).TotalSeconds;
                double? tbg = gpu is null ? null : StageBenchmark.TimeBackprojection(gpu, series.Raw, series.NominalTilts, bpRows, thickness, reps).TotalSeconds;
                rows.Add(new BenchRow("backproject", $"{bpRows} rows×{n}×{thickness}, {nz} v", tbc, tbg));
            }
            if (StageBenchmark.TimePatchTracking(cpu, series.Raw, series.NominalTilts, simOptions.TiltAxisDegrees, reps) is { } tpc)
            {
                var tpg = gpu is null ? null : StageBenchmark.TimePatchTracking(gpu, series.Raw, series.NominalTilts, simOptions.TiltAxisDegrees, reps);
                rows.Add(new BenchRow("patch tracking", $"{n}×{n}×{nz}, auto bin", tpc.TotalSeconds, tpg?.TotalSeconds));
            }
            {
                double ttc = StageBenchmark.TimeTemplateCorrelation(cpu, series.Raw, 15, reps).TotalSeconds;
                double? ttg = gpu is null ? null : StageBenchmark.TimeTemplateCorrelation(gpu, series.Raw, 15, reps).TotalSeconds;
                rows.Add(new BenchRow("bead template", $"{n}×{n}×{nz}, 15²", ttc, ttg));
            }
            ctx.Out.WriteLine($"CPU: {cpu.Description}");
            ctx.Out.WriteLine($"GPU: {gpu?.Description ?? "none"}");
            ctx.Out.WriteLine($"{"stage",-16} {"size",-22} {"cpu s",10} {"gpu s",10} {"speed-up",9}");
            foreach (var r in rows)
                ctx.Out.WriteLine($"{r.Stage,-16} {r.Size,-22} {r.CpuSeconds,10:F4} {(r.GpuSeconds is { } g ? g.ToString("F4") : "-"),10} " +
                                  $"{(r.GpuSeconds is { } g2 && g2 > 0 ? (r.CpuSeconds / g2).ToString("F1") + "×" : "-"),9}");
            report.Results["table"] = rows;
            string dir = p.GetValue(output)!;
            Directory.CreateDirectory(dir);
            if (p.GetValue(run))
            {
                int runBinning = p.GetValue(runBin);
                if (runBinning < 1) throw new Tomalign.Core.TomalignInputException(null, $"--bin {runBinning} is not a binning factor", "use --bin 1 or more");
                int slices = p.GetValue(runThickness) ?? Math.Max(8, (int)Math.Round(600.0 * n / 2048 / runBinning));
                ParseAxisProfiles(p.GetValue(runProfiles)!);   // a bad value fails here, before the runs
                report.Results["run"] = BenchWholeRun(ctx, series, cpu, gpu, dir, slices, runBinning, p.GetValue(runProfiles)!);
            }
            report.Write(Path.Combine(dir, "tomalign.bench.json"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    internal sealed record BenchRow(string Stage, string Size, double CpuSeconds, double? GpuSeconds);
}

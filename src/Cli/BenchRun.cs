using System.Diagnostics;
using System.Globalization;
using Tomalign.Core.Backend;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Simulation;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>One whole `run` of the bench: per-stage seconds, wall time, and the alignment error against the truth.</summary>
    internal sealed record BenchRunResult(string Device, double WallSeconds, IReadOnlyList<(string Stage, double Seconds)> Stages,
        double AlignmentErrorPixels, string Xf, string Volume, long? PeakDeviceBytes = null);

    /// <summary>
    /// `bench --run`: writes the simulated series, then runs the whole markerless `run` (coarse → patches → solve →
    /// aligned stack → WBP) on it with the CPU path and, when one is given, the GPU, from reading the files to the
    /// written tomogram; prints the stages side by side and how far the two runs agree (tomogram relative RMS
    /// difference, alignment difference over the field after the gauge).
    /// </summary>
    internal static Dictionary<string, object?> BenchWholeRun(CliContext ctx, SimulatedSeries series, IComputeBackend cpu, IComputeBackend? gpu,
        string dir, int thickness, int bin, string axisProfiles = "auto")
    {
        string root = Path.Combine(dir, "bench-run");
        var files = SimulationFiles.Write(series, root, "sim", 2.0);
        var runs = new List<BenchRunResult>();
        foreach (var backend in new[] { cpu, gpu }.OfType<IComputeBackend>())
        {
            string sub = Path.Combine(root, backend.Name);
            var spec = new PipelineSpec
            {
                Stack = files.Stack, Angles = files.RawTilt, Out = sub, Name = "sim", TiltAxis = series.Options.TiltAxisDegrees, Markerless = true,
                Thickness = thickness, Bin = bin, AxisProfiles = axisProfiles,
            };
            var sw = Stopwatch.StartNew();
            var outcome = new TiltSeriesPipeline(backend).RunAndReport(spec, PipelineOptions.Context(ctx,
                arguments: ["run", files.Stack, "--markerless", "--bin", bin.ToString(CultureInfo.InvariantCulture), "--axis-profiles", axisProfiles]));
            var report = outcome.Report;
            double wall = sw.Elapsed.TotalSeconds;
            double error = AlignmentCheck.FieldErrorAfterGauge(series, ImodText.ReadXf(outcome.Align.Xf));
            runs.Add(new BenchRunResult(backend.Name, wall, report.Stages.Select(s => (s.Name, s.Seconds)).ToArray(), error, outcome.Align.Xf, outcome.Volume!,
                report.PeakDeviceBytes));
        }

        var stages = runs.SelectMany(r => r.Stages.Select(s => s.Stage)).Distinct().ToList();
        ctx.Out.WriteLine();
        ctx.Out.WriteLine($"Whole run, markerless, WBP {thickness} slices at bin {bin}, {series.Raw.Nx}×{series.Raw.Ny}×{series.Raw.Nz}:");
        ctx.Out.WriteLine($"{"stage",-18} " + string.Join(" ", runs.Select(r => $"{r.Device + " s",12}")));
        foreach (var stage in stages)
            ctx.Out.WriteLine($"{stage,-18} " + string.Join(" ", runs.Select(r =>
                $"{(r.Stages.Where(s => s.Stage == stage).Select(s => (double?)s.Seconds).FirstOrDefault() is { } t ? t.ToString("F3", CultureInfo.InvariantCulture) : "-"),12}")));
        ctx.Out.WriteLine($"{"whole run (wall)",-18} " + string.Join(" ", runs.Select(r => $"{r.WallSeconds,12:F3}")));
        ctx.Out.WriteLine($"{"alignment error px",-18} " + string.Join(" ", runs.Select(r => $"{r.AlignmentErrorPixels,12:F3}")));
        if (runs.Any(r => r.PeakDeviceBytes is not null))
            ctx.Out.WriteLine($"{"device peak MiB",-18} " + string.Join(" ", runs.Select(r =>
                $"{(r.PeakDeviceBytes is { } b ? (b / (1024.0 * 1024)).ToString("F1", CultureInfo.InvariantCulture) : "-"),12}")));

        var result = new Dictionary<string, object?>
        {
            ["thickness"] = thickness,
            ["bin"] = bin,
            ["axisProfiles"] = axisProfiles,
            ["runs"] = runs.Select(r => new
            {
                device = r.Device, wallSeconds = r.WallSeconds, alignmentErrorPixels = r.AlignmentErrorPixels, peakDeviceBytes = r.PeakDeviceBytes,
                stages = r.Stages.Select(s => new { name = s.Stage, seconds = s.Seconds }).ToArray(),
            }).ToArray(),
        };
        if (runs.Count == 2)
        {
            double volumeDifference = RelativeRmsDifference(runs[1].Volume, runs[0].Volume);
            double alignmentDifference = AlignmentCheck.FieldDifferenceAfterGauge(series, ImodText.ReadXf(runs[1].Xf), ImodText.ReadXf(runs[0].Xf));
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{runs[1].Device} against cpu: tomograms differ by {volumeDifference:E2} (relative RMS), alignments by {alignmentDifference:F3} px over the field"));
            result["tomogramRelativeDifference"] = volumeDifference;
            result["alignmentDifferencePixels"] = alignmentDifference;
        }
        return result;
    }

    /// <summary>‖a − b‖ / ‖b‖ over two volumes of the same size, read section by section.</summary>
    internal static double RelativeRmsDifference(string a, string b)
    {
        using var ra = MrcReader.Open(a);
        using var rb = MrcReader.Open(b);
        if ((ra.Nx, ra.Ny, ra.Nz) != (rb.Nx, rb.Ny, rb.Nz))
            throw new InvalidOperationException($"{a} is {ra.Nx}×{ra.Ny}×{ra.Nz} but {b} is {rb.Nx}×{rb.Ny}×{rb.Nz}");
        var sa = new float[ra.Nx * ra.Ny];
        var sb = new float[rb.Nx * rb.Ny];
        double diff = 0, norm = 0;
        for (int z = 0; z < ra.Nz; z++)
        {
            ra.ReadSection(z, sa);
            rb.ReadSection(z, sb);
            for (int i = 0; i < sa.Length; i++)
            {
                double d = sa[i] - sb[i];
                diff += d * d;
                norm += (double)sb[i] * sb[i];
            }
        }
        return norm > 0 ? Math.Sqrt(diff / norm) : Math.Sqrt(diff);
    }
}

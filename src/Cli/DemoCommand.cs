using System.CommandLine;
using System.Globalization;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Simulation;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>
    /// The built-in sample: simulate a raw tilt series, run the whole pipeline on it (coarse →
    /// bead tracking → robust solve → aligned stack → WBP tomogram) and measure the
    /// alignment against the simulation's truth.
    /// </summary>
    private static Command Demo(TextWriter stdout, TextWriter stderr)
    {
        var output = new Option<string>("--out", "-o") { Description = "Folder for the demo's files.", DefaultValueFactory = _ => "demo-out" };
        var size = new Option<int>("--size") { Description = "Image size of the simulated series.", DefaultValueFactory = _ => 512 };
        var thickness = new Option<int?>("--thickness") { Description = "Tomogram thickness (voxels); default: the simulated slab plus a margin." };
        var device = DeviceOption();
        var cmd = new Command("demo",
            "Run the built-in sample: simulate a 41-view raw series (gold beads, textured slab, shot noise, per-view errors), align it " +
            "on its gold beads (coarse → bead tracking → robust solve), write the aligned stack and a WBP tomogram, and measure the " +
            "alignment against the truth.")
        { output, size, thickness, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string dir = p.GetValue(output)!;
            int n = p.GetValue(size);
            var report = new Tomalign.Core.Reporting.RunReport("demo", Environment.GetCommandLineArgs().Skip(1));
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            var options = SimulationOptions.ForSize(n);
            var series = report.Stage("simulate", () => RunSimulator(options, ctx));
            var files = report.Stage("write", () => SimulationFiles.Write(series, dir, "sim", 2.0));
            report.Outputs.AddRange(files.All);
            int t = p.GetValue(thickness) ?? (int)Math.Ceiling(options.ThicknessPixels * 1.5);
            // Gold beads, as careful users align when their specimen has them; per-view magnification and tilt (the
            // simulated microscope jitters both from view to view).
            var spec = new PipelineSpec
            {
                Stack = files.Stack, Angles = files.RawTilt, Out = dir, Name = "sim", TiltAxis = options.TiltAxisDegrees,
                BeadDiameter = 2 * options.BeadRadiusPixels, Beads = Math.Max(5, options.BeadCount + 5), Tilt = "per-view", Mag = "per-view",
                Thickness = t, Log = true, Device = p.GetValue(device)!,
            };
            var context = PipelineOptions.Context(ctx, command: "demo", report: report);
            var result = new TiltSeriesPipeline(backend).Run(spec, context);
            var outcome = result.Align;
            double error = AlignmentCheck.ErrorAfterGauge(series, ImodText.ReadXf(outcome.Xf));
            double coarseOnly = AlignmentCheck.ErrorAfterGauge(series, ImodText.ReadXf(outcome.Prexg)
                .Select(g => Tomalign.Core.Geometry.Xf.Product(g, Tomalign.Core.Geometry.Xf.RotationScale(-options.TiltAxisDegrees, 1, 0, 0))).ToArray());
            report.Results["alignmentErrorPixels"] = error;
            report.Results["coarseOnlyErrorPixels"] = coarseOnly;
            report.Results["residualMeanPixels"] = outcome.Solve.Overall.Mean;
            TiltSeriesPipeline.WriteReports(result, context);
            ctx.Out.WriteLine($"Simulated {series.Raw.Nz} views of {series.Raw.Nx}×{series.Raw.Ny} with {series.Beads.Length} beads into {Path.GetFullPath(dir)}");
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Bead alignment: {outcome.Solve.Landmarks.Length} beads tracked, residual mean {outcome.Solve.Overall.Mean:F3} px; " +
                $"alignment error against the truth {error:F3} px after the gauge (coarse alone {coarseOnly:F3} px)"));
            ctx.Out.WriteLine($"Transforms: {outcome.Xf}; aligned stack: {result.Aligned}; tomogram: {result.Volume} ({result.Summary!.Nx}×{result.Summary.Ny}×{result.Summary.Nz}, WBP)");
            ctx.Out.WriteLine($"Report: {Path.Combine(dir, "sim.demo.html")}");
            ctx.Out.WriteLine($"Times: {string.Join(", ", report.Stages.Select(s => $"{s.Name} {s.Seconds:F2} s"))}");
            return FinishWithVerdict(ctx, result.Quality, "Demo done.", dir);
        });
        return cmd;
    }
}

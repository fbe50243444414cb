using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Backend;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Reconstruction;
using Tomalign.Core.Reporting;
using Tomalign.Core.Solve;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>What `run` produced.</summary>
    internal sealed record RunOutcome(AlignOutcome Align, string Aligned, string Volume, ReconstructionSummary Summary);

    /// <summary>align → aligned stack → tomogram, in one command (AreTomo's one call; etomo's whole pipeline).</summary>
    private static Command RunPipeline(TextWriter stdout, TextWriter stderr)
    {
        var stack = new Argument<string>("STACK") { Description = "The raw tilt series, MRC (.mrc/.st)." };
        var angles = new Option<string>("--angles") { Description = "Nominal tilt angles, one per view (.rawtlt).", Required = true };
        var axis = new Option<string>("--tilt-axis") { Description = "Tilt-axis angle in the raw image, degrees counter-clockwise from +Y (IMOD's rotation angle), or auto: searched by the coarse correlation (modulo 180°).", Required = true };
        var markerless = new Option<bool>("--markerless") { Description = "Landmarks from patch tracking (no gold beads)." };
        var beadDiameter = new Option<double?>("--bead-diameter") { Description = "Gold bead diameter in pixels: landmarks from bead tracking." };
        var thickness = new Option<int>("--thickness") { Description = "Tomogram thickness in (binned) voxels.", Required = true };
        var method = new Option<string>("--method") { Description = "wbp (default) or sirt.", DefaultValueFactory = _ => "wbp" };
        var iterations = new Option<int>("--iterations") { Description = "SIRT iterations.", DefaultValueFactory = _ => 15 };
        var bin = new Option<int>("--bin") { Description = "Binning of the aligned stack and the tomogram.", DefaultValueFactory = _ => 1 };
        var log = new Option<bool>("--log") { Description = "Reconstruct −ln(value) (stacks of transmitted intensity; IMOD tilt -LOG)." };
        var (rotation, tilt, mag) = SolveVariableOptions();
        var level = LevelOption();
        var resume = new Option<bool>("--resume") { Description = "Reuse the outputs of stages already in --out." };
        var name = new Option<string?>("--name") { Description = "Base name of the outputs (default: the stack's name)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for every output.", Required = true };
        var device = DeviceOption();
        var cmd = new Command("run",
            "The whole job: coarse → landmarks → solve (as `align`), then the aligned stack (NAME.ali, as `apply`) and the tomogram " +
            "(NAME.rec, as `reconstruct`), with NAME.run.json. Resumable with --resume.")
        { stack, angles, axis, markerless, beadDiameter, thickness, method, iterations, bin, log, rotation, tilt, mag, level, resume, name, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string input = p.GetValue(stack)!, dir = p.GetValue(output)!;
            string baseName = p.GetValue(name) ?? Path.GetFileNameWithoutExtension(input);
            bool isMarkerless = p.GetValue(markerless);
            double? diameter = p.GetValue(beadDiameter);
            RequireOneLandmarkKind(isMarkerless, diameter);
            var recOptions = new ReconstructionOptions
            {
                Thickness = p.GetValue(thickness),
                Method = p.GetValue(method)!.Trim().ToLowerInvariant() switch
                {
                    "wbp" => ReconstructionMethod.Wbp,
                    "sirt" => ReconstructionMethod.Sirt,
                    var m => throw new TomalignInputException(null, $"unknown method '{m}'", "use --method wbp or --method sirt"),
                },
                Iterations = p.GetValue(iterations),
                Log = p.GetValue(log),
            };
            try { recOptions.Validate(); }
            catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "check the run options (tomalign run --help)"); }
            int binning = p.GetValue(bin);
            if (binning < 1) throw new TomalignInputException(null, $"--bin {binning} is not a binning factor", "use --bin 1 or more");
            var report = new RunReport("run", Environment.GetCommandLineArgs().Skip(1));
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            var outcome = RunWhole(ctx, report, backend, input, p.GetValue(angles)!, ParseTiltAxis(p.GetValue(axis)!), isMarkerless, diameter, 25,
                ParseSolveVariables(p, rotation, tilt, mag, level), recOptions, binning, dir, baseName, p.GetValue(resume));
            WriteHtml(Path.Combine(dir, baseName + ".run.html"), report, outcome.Align, CentralSlices(outcome.Volume));
            report.Write(Path.Combine(dir, baseName + ".run.json"));
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Aligned (residual mean {outcome.Align.Solve.Overall.Mean:F3} px) and reconstructed {outcome.Summary.Nx}×{outcome.Summary.Ny}×{outcome.Summary.Nz}: {outcome.Volume}"));
            ctx.Out.WriteLine($"Times: {string.Join(", ", report.Stages.Select(s => $"{s.Name} {s.Seconds:F2} s"))}");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The central XY section and the central XZ slice of an XYZ volume.</summary>
    internal static IReadOnlyList<SliceImage> CentralSlices(string volume)
    {
        using var r = MrcReader.Open(volume);
        var xy = new float[r.Nx * r.Ny];
        r.ReadSection(r.Nz / 2, xy);
        var xz = new float[r.Nx * r.Nz];
        for (int z = 0; z < r.Nz; z++) r.ReadRows(z, r.Ny / 2, 1, xz.AsSpan(z * r.Nx, r.Nx));
        return [new SliceImage($"XY, central section (z = {r.Nz / 2})", xy, r.Nx, r.Ny), new SliceImage($"XZ, central row (y = {r.Ny / 2})", xz, r.Nx, r.Nz)];
    }

    internal static RunOutcome RunWhole(CliContext ctx, RunReport report, IComputeBackend backend, string input, string anglesPath, double? tiltAxis,
        bool markerless, double? beadDiameter, int beadCount, SolveOptions solveOptions, ReconstructionOptions recOptions, int bin,
        string dir, string baseName, bool resume)
    {
        var align = RunAlign(ctx, report, backend, input, anglesPath, tiltAxis, markerless, beadDiameter, beadCount, solveOptions, dir, baseName, resume);
        string ali = Path.Combine(dir, baseName + ".ali"), rec = Path.Combine(dir, baseName + ".rec");
        if (!(resume && File.Exists(ali)))
        {
            var xfs = ImodText.ReadXf(align.Xf);
            report.Stage("apply", () => new ApplyTransforms(backend, ctx.Log).Run(input, xfs, align.Xf, ali, new ApplyOptions { Bin = bin }, ctx.Progress("apply")));
            report.Outputs.Add(Path.GetFullPath(ali));
        }
        else ctx.Log.LogInformation("resume: aligned stack {File} kept", ali);
        var tilts = ImodText.ReadAngles(align.Tlt);
        var summary = report.Stage("reconstruct", () => new Reconstructor(backend, ctx.Log).Run(ali, tilts, rec, recOptions, ctx.Progress("reconstruct"), Cancellation));
        report.Outputs.Add(Path.GetFullPath(rec));
        report.Results["volume"] = new[] { summary.Nx, summary.Ny, summary.Nz };
        report.Results["method"] = recOptions.Method.ToString().ToLowerInvariant();
        return new RunOutcome(align, ali, rec, summary);
    }
}

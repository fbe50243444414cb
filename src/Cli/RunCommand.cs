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
        var tiltPrior = TiltPriorOption();
        var axisProfiles = AxisProfilesOption();
        var resume = new Option<bool>("--resume") { Description = "Reuse the outputs of stages already in --out." };
        var name = new Option<string?>("--name") { Description = "Base name of the outputs (default: the stack's name)." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for every output.", Required = true };
        var device = DeviceOption();
        var cmd = new Command("run",
            "The whole job: coarse → landmarks → solve (as `align`), then the aligned stack (NAME.ali, as `apply`) and the tomogram " +
            "(NAME.rec, as `reconstruct`), with NAME.run.json. Resumable with --resume.")
        { stack, angles, axis, markerless, beadDiameter, thickness, method, iterations, bin, log, rotation, tilt, mag, tiltPrior, level, axisProfiles, resume, name, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string input = p.GetValue(stack)!, dir = p.GetValue(output)!;
            string baseName = p.GetValue(name) ?? Path.GetFileNameWithoutExtension(input);
            var spec = new RunSpec(input, p.GetValue(angles)!, ParseTiltAxis(p.GetValue(axis)!), p.GetValue(markerless), p.GetValue(beadDiameter), 25,
                ReconstructionOptionsFor(p.GetValue(thickness), p.GetValue(method)!, p.GetValue(iterations), p.GetValue(log)),
                p.GetValue(bin), dir, baseName, p.GetValue(resume), ParseSolveVariables(p, rotation, tilt, mag, level, tiltPrior), AxisProfiles: p.GetValue(axisProfiles)!);
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            var (report, outcome) = RunAndReport(ctx, backend, spec, Environment.GetCommandLineArgs().Skip(1), Cancellation);
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Aligned (residual mean {outcome.Align.Solve.Overall.Mean:F3} px) and reconstructed {outcome.Summary.Nx}×{outcome.Summary.Ny}×{outcome.Summary.Nz}: {outcome.Volume}"));
            ctx.Out.WriteLine($"Times: {string.Join(", ", report.Stages.Select(s => $"{s.Name} {s.Seconds:F2} s"))}");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>One whole job as `run` does it: its inputs, settings and where its outputs go. AlignedStackMemoryBytes: the most aligned stack
    /// kept in memory for the reconstruction (null: <see cref="DefaultAlignedStackMemoryBytes"/>; 0: always write it and read it back).</summary>
    internal sealed record RunSpec(string Input, string Angles, double? TiltAxis, bool Markerless, double? BeadDiameter, int BeadCount,
        ReconstructionOptions Reconstruction, int Bin, string Dir, string BaseName, bool Resume, SolveOptions? Solve = null,
        long? AlignedStackMemoryBytes = null, string AxisProfiles = "auto")
    {
        /// <summary>The solve of run's defaults: robust, rotation per view, tilt and magnification automatic.</summary>
        public static SolveOptions DefaultSolve { get; } = new() { Robust = true, Tilt = VariableOption.Auto, Magnification = VariableOption.Auto, TiltPrior = Tomalign.Core.Solve.TiltPriorOption.Auto };
    }

    /// <summary>Reconstruction options from the run options; bad values are an input error naming the fix.</summary>
    internal static ReconstructionOptions ReconstructionOptionsFor(int thickness, string method, int iterations, bool log)
    {
        var options = new ReconstructionOptions
        {
            Thickness = thickness,
            Method = method.Trim().ToLowerInvariant() switch
            {
                "wbp" => ReconstructionMethod.Wbp,
                "sirt" => ReconstructionMethod.Sirt,
                var m => throw new TomalignInputException(null, $"unknown method '{m}'", "use --method wbp or --method sirt"),
            },
            Iterations = iterations,
            Log = log,
        };
        try { options.Validate(); }
        catch (ArgumentException e) { throw new TomalignInputException(null, e.Message, "check the run options (tomalign run --help)"); }
        return options;
    }

    /// <summary>
    /// The `run` job, shared by the run command and the serve worker: align → aligned stack → tomogram, then
    /// NAME.run.html and NAME.run.json in the output folder. <paramref name="cancel"/> stops it at the next stage.
    /// </summary>
    internal static (RunReport Report, RunOutcome Outcome) RunAndReport(CliContext ctx, IComputeBackend backend, RunSpec spec,
        IEnumerable<string> arguments, CancellationToken cancel, Action<string>? stageStarted = null)
    {
        RequireOneLandmarkKind(spec.Markerless, spec.BeadDiameter);
        if (spec.Bin < 1) throw new TomalignInputException(null, $"--bin {spec.Bin} is not a binning factor", "use --bin 1 or more");
        Preflight.CheckRun(spec);   // what can be checked before the long work is checked now
        backend = CancellableBackend.Wrap(backend, cancel, ownsInner: false);   // a cancel reaches every backend call of every stage
        var report = new RunReport("run", arguments)
            { Device = backend.Description, DeviceMemory = backend.DeviceMemory, Cancel = cancel, StageStarted = stageStarted };
        var outcome = RunWhole(ctx, report, backend, spec.Input, spec.Angles, spec.TiltAxis, spec.Markerless, spec.BeadDiameter, spec.BeadCount,
            spec.Solve ?? RunSpec.DefaultSolve, spec.Reconstruction, spec.Bin, spec.Dir, spec.BaseName, spec.Resume, spec.AlignedStackMemoryBytes,
            spec.AxisProfiles);
        WriteHtml(Path.Combine(spec.Dir, spec.BaseName + ".run.html"), report, outcome.Align, CentralSlices(outcome.Volume));
        report.Write(Path.Combine(spec.Dir, spec.BaseName + ".run.json"));
        return (report, outcome);
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

    /// <summary>
    /// The most bytes of aligned stack `run` keeps in memory to reconstruct from (instead of reading NAME.ali back):
    /// a quarter of the memory available to the process (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>, which
    /// honours container limits), leaving the rest for the reconstruction's slabs and everything else.
    /// </summary>
    internal static long DefaultAlignedStackMemoryBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4;

    internal static RunOutcome RunWhole(CliContext ctx, RunReport report, IComputeBackend backend, string input, string anglesPath, double? tiltAxis,
        bool markerless, double? beadDiameter, int beadCount, SolveOptions solveOptions, ReconstructionOptions recOptions, int bin,
        string dir, string baseName, bool resume, long? alignedStackMemoryBytes = null, string axisProfiles = "auto")
    {
        var align = RunAlign(ctx, report, backend, input, anglesPath, tiltAxis, markerless, beadDiameter, beadCount, solveOptions, dir, baseName, resume,
            axisProfiles: axisProfiles);
        string ali = Path.Combine(dir, baseName + ".ali"), rec = Path.Combine(dir, baseName + ".rec");
        var tilts = ImodText.ReadAngles(align.Tlt);
        // The report's token when the caller gave one (a serve job), otherwise the process's Ctrl-C.
        var cancel = report.Cancel.CanBeCanceled ? report.Cancel : Cancellation;
        ReconstructionSummary summary;
        if (!(resume && File.Exists(ali)))
        {
            var xfs = ImodText.ReadXf(align.Xf);
            var applyOptions = new ApplyOptions { Bin = bin };
            long need = ApplyTransforms.AlignedBytes(input, applyOptions), budget = alignedStackMemoryBytes ?? DefaultAlignedStackMemoryBytes();
            if (need <= budget && need / 4 <= Array.MaxLength)
            {
                // The aligned stack stays in memory: the tomogram is reconstructed from it while NAME.ali is written beside.
                ctx.Log.LogInformation("apply: the aligned stack ({Need:F0} MB) is kept in memory for the reconstruction (budget {Budget:F0} MB) and written to {File} meanwhile",
                    need / 1e6, budget / 1e6, ali);
                var aligned = report.Stage("apply", () => new ApplyTransforms(backend, ctx.Log).RunInMemory(input, xfs, align.Xf, ali, applyOptions, ctx.Progress("apply")));
                summary = report.Stage("reconstruct", () => ReconstructWhileWriting(ctx, backend, aligned, tilts, rec, recOptions, cancel));
                report.Outputs.Add(Path.GetFullPath(ali));
                report.Results["alignedStackInMemory"] = true;
            }
            else
            {
                ctx.Log.LogInformation("apply: the aligned stack ({Need:F0} MB) exceeds the memory budget ({Budget:F0} MB): written to {File} and read back by slabs",
                    need / 1e6, budget / 1e6, ali);
                report.Stage("apply", () => new ApplyTransforms(backend, ctx.Log).Run(input, xfs, align.Xf, ali, applyOptions, ctx.Progress("apply")));
                report.Outputs.Add(Path.GetFullPath(ali));
                summary = report.Stage("reconstruct", () => new Reconstructor(backend, ctx.Log).Run(ali, tilts, rec, recOptions, ctx.Progress("reconstruct"), cancel));
                report.Results["alignedStackInMemory"] = false;
            }
        }
        else
        {
            ctx.Log.LogInformation("resume: aligned stack {File} kept", ali);
            summary = report.Stage("reconstruct", () => new Reconstructor(backend, ctx.Log).Run(ali, tilts, rec, recOptions, ctx.Progress("reconstruct"), cancel));
        }
        report.Outputs.Add(Path.GetFullPath(rec));
        report.Results["volume"] = new[] { summary.Nx, summary.Ny, summary.Nz };
        report.Results["method"] = recOptions.Method.ToString().ToLowerInvariant();
        return new RunOutcome(align, ali, rec, summary);
    }

    /// <summary>
    /// Reconstructs from the aligned stack in memory while a background task writes it to its file. The tomogram is
    /// committed only once the aligned stack is written; if writing it fails, the reconstruction stops and that error
    /// is thrown (no tomogram, no temporary files). The aligned stack is finished whatever the reconstruction does,
    /// as it was when it was written before the reconstruction began: a failed or cancelled reconstruction (which
    /// stops between slabs) leaves the whole NAME.ali, and no tomogram, for --resume.
    /// </summary>
    internal static ReconstructionSummary ReconstructWhileWriting(CliContext ctx, IComputeBackend backend, ApplyTransforms.AlignedStack aligned,
        IReadOnlyList<double> tilts, string rec, ReconstructionOptions recOptions, CancellationToken cancel)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double writeSeconds = 0;
        var writing = Task.Run(() =>
        {
            try { aligned.Write(); writeSeconds = clock.Elapsed.TotalSeconds; }
            catch { stop.Cancel(); throw; }   // stop the reconstruction too: the run has failed
        });
        try
        {
            var summary = new Reconstructor(backend, ctx.Log).Run(aligned.Stack, aligned.StoredPixelSizeX, aligned.OutputPath, tilts, rec, recOptions,
                ctx.Progress("reconstruct"), stop.Token, beforeCommit: () => writing.GetAwaiter().GetResult());
            ctx.Log.LogDebug("apply: {File} written in {Seconds:F2} s beside the reconstruction", aligned.OutputPath, writeSeconds);
            return summary;
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            // Stopped by the failed write, not by the caller: its error is the one to report.
            writing.GetAwaiter().GetResult();
            throw;
        }
        finally
        {
            try { writing.Wait(); }
            catch (Exception) { /* already thrown above, or secondary to the reconstruction's own error */ }
        }
    }
}

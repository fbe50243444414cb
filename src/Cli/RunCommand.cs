using System.CommandLine;
using System.Globalization;
using Tomalign.Core.Backend;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Reconstruction;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>align → aligned stack → tomogram, in one command (AreTomo's one call; etomo's whole pipeline): a shell over <see cref="TiltSeriesPipeline"/>.</summary>
    private static Command RunPipeline(TextWriter stdout, TextWriter stderr)
    {
        var options = PipelineOptions.ForRun();
        var cmd = new Command("run",
            "The whole job: coarse → landmarks → solve (as `align`), then the aligned stack (NAME.ali, as `apply`) and the tomogram " +
            "(NAME.rec, as `reconstruct`), with NAME.run.json. Resumable with --resume.");
        options.AddTo(cmd);
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            var spec = options.ToSpec(p);
            Preflight.CheckRun(spec);   // the header, the angles, the output folder and the binning, before the long work
            using var backend = Backends.Create(ParseDevice(spec.Device), ctx);
            var result = new TiltSeriesPipeline(backend).RunAndReport(spec, PipelineOptions.Context(ctx));
            ctx.Out.WriteLine($"Times: {string.Join(", ", result.Report.Stages.Select(s => $"{s.Name} {s.Seconds:F2} s"))}");
            return FinishWithVerdict(ctx, result.Quality, string.Create(CultureInfo.InvariantCulture,
                $"Aligned (residual mean {result.Align.Solve.Overall.Mean:F3} px) and reconstructed {result.Summary!.Nx}×{result.Summary.Ny}×{result.Summary.Nz}: {result.Volume}"),
                result.Volume!);
        });
        return cmd;
    }

    /// <summary><see cref="TiltSeriesPipeline.ReconstructWhileWriting"/> with a command's logging and progress.</summary>
    internal static ReconstructionSummary ReconstructWhileWriting(CliContext ctx, IComputeBackend backend, Tomalign.Core.Pipeline.ApplyTransforms.AlignedStack aligned,
        IReadOnlyList<double> tilts, string rec, ReconstructionOptions recOptions, CancellationToken cancel) =>
        TiltSeriesPipeline.ReconstructWhileWriting(backend, ctx.Log, ctx.Progress("reconstruct"), aligned, tilts, rec, recOptions, cancel);
}

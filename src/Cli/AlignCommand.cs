using System.CommandLine;
using System.Globalization;
using Tomalign.Core.Pipeline;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>
    /// coarse → landmarks (markerless patches, or gold beads) → solve, in one go: IMOD's etomo alignment steps, or
    /// AreTomo's alignment. A shell over <see cref="TiltSeriesPipeline"/> (align only); resumable with --resume.
    /// </summary>
    private static Command Align(TextWriter stdout, TextWriter stderr)
    {
        var options = PipelineOptions.ForAlign();
        var cmd = new Command("align",
            "Align a raw tilt series in one go: coarse (NAME.prexf/.prexg) → landmarks (--markerless: patch tracking; --bead-diameter: " +
            "gold beads) into NAME.fid → bundle-adjustment solve (NAME.xf, .tlt, .tltxf, .xtilt, .resid, fid.xyz, .solve.txt/.json, and AreTomo's NAME.aln). " +
            "`tomalign apply STACK --xf NAME.xf` then gives the aligned stack.");
        options.AddTo(cmd);
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            var spec = options.ToSpec(p);
            Preflight.CheckRun(spec);   // the header, the angles, the output folder and the binning, before the long work
            using var backend = Backends.Create(ParseDevice(spec.Device), ctx);
            var result = new TiltSeriesPipeline(backend).RunAndReport(spec, PipelineOptions.Context(ctx));
            var solve = result.Align.Solve;
            return FinishWithVerdict(ctx, result.Quality, string.Create(CultureInfo.InvariantCulture,
                $"Aligned {solve.Views.Length} views: {solve.ObservationCount} observations of {solve.Landmarks.Length} landmarks, residual mean {solve.Overall.Mean:F3} px (RMS {solve.Overall.Rms:F3}); transforms {result.Align.Xf}"),
                result.Align.Xf);
        });
        return cmd;
    }
}

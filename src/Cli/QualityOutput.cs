using System.Globalization;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Coarse;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;
using Tomalign.Core.Quality;
using Tomalign.Core.Reporting;
using Tomalign.Core.Solve;

namespace Tomalign.Cli;

internal static partial class Commands
{
    /// <summary>
    /// The end of a command that aligned: the verdict and one line per reason on stdout, then <paramref name="success"/>
    /// (e.g. "Aligned …") or, for an unreliable alignment, "Alignment UNRELIABLE: …" and <see cref="ExitCodes.Unreliable"/>
    /// (the outputs are written before, so that they can be inspected).
    /// </summary>
    internal static int FinishWithVerdict(CliContext ctx, QualityVerdict verdict, string success, string outputs)
    {
        ctx.Out.WriteLine($"Quality: {verdict.Name}");
        foreach (var r in verdict.Reasons) ctx.Out.WriteLine($"  {r}");
        if (verdict.Verdict == Verdict.Unreliable)
        {
            ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Alignment UNRELIABLE: {verdict.Summary()["unreliable: ".Length..]}. The outputs are written for inspection only: {outputs}"));
            return ExitCodes.Unreliable;
        }
        ctx.Out.WriteLine(success);
        return ExitCodes.Ok;
    }
}

using System.Globalization;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Core.IO;
using Tomalign.Core.Reporting;

namespace Tomalign.Core.Pipeline;

/// <summary>What <see cref="SeriesPreparation"/> did: the stack and angles the stages work on, and why.</summary>
/// <param name="Stack">The stack the stages align: the user's own, or NAME.prepared.mrc.</param>
/// <param name="Angles">Its angle file: the user's own, or NAME.prepared.rawtlt.</param>
/// <param name="InputViews">For each view of <paramref name="Stack"/>, its view index (0-based) in the user's stack.</param>
/// <param name="Excluded">The views left out, with the reason for each.</param>
/// <param name="Sorted">True when the user's views were not in increasing tilt order.</param>
public sealed record PreparedSeries(string Stack, string Angles, int[] InputViews, IReadOnlyList<ExcludedView> Excluded, bool Sorted)
{
    /// <summary>True when the stages work on the user's stack as it is.</summary>
    public bool Unchanged => !Sorted && Excluded.Count == 0;

    /// <summary>The user's views (0-based, stack order) in increasing tilt order, the excluded ones included; empty when not known.</summary>
    public int[] SortedInputViews { get; init; } = [];
}

/// <summary>
/// Before the stages: views are put in increasing tilt order (a stack in acquisition order, as dose-symmetric schemes
/// write it), and views that would spoil the alignment are left out (<see cref="ViewScreening"/>: dark, overexposed or
/// structureless against their neighbours, and the user's <c>--exclude-views</c>), as IMOD's newstack with an exclude
/// list does. When anything changes, the stages align NAME.prepared.mrc with NAME.prepared.rawtlt (written beside the
/// outputs, whole or not at all), and every output refers to that stack: one line per prepared view, in tilt order.
/// The report says so (results.preparation) and lists the excluded views with their reasons.
/// </summary>
public static class SeriesPreparation
{
    /// <summary>Suffixes of the prepared stack and its angles.</summary>
    public const string StackSuffix = ".prepared.mrc", AnglesSuffix = ".prepared.rawtlt";

    /// <summary>
    /// Screens and orders the user's series; writes the prepared stack when needed. <paramref name="userExcluded"/>:
    /// 0-based views of the user's stack.
    /// </summary>
    public static PreparedSeries Prepare(PipelineSpec spec, IReadOnlyList<int> userExcluded, ILogger log, RunReport report,
        IProgress<double>? progress, CancellationToken cancel)
    {
        var (stack, tilts) = report.Stage("read (screening)", () => TiltSeriesReader.Read(spec.Stack, spec.Angles, spec.Mdoc, progress, cancel,
            warn: w => { log.LogWarning("{Warning}", w); report.Warnings.Add(w); }));
        var excluded = report.Stage("screen views", () => ViewScreening.Detect(ViewScreening.Measure(stack), tilts, userExcluded));
        var ordering = ViewOrdering.For(tilts, spec.Angles);
        var skip = excluded.Select(e => e.View).ToHashSet();
        int[] keep = ordering.SortedToInput.Where(v => !skip.Contains(v)).ToArray();
        foreach (var e in excluded)
            log.LogWarning("view {View} (1-based {One}, tilt {Tilt:F1}°) is left out: {Reason}", e.View, e.View + 1, e.Tilt, e.Reason);
        if (keep.Length < 3)
            throw new TomalignInputException(spec.Stack, $"only {keep.Length} of {tilts.Length} views are fit to align " +
                $"({string.Join("; ", excluded.Select(e => $"view {e.View + 1}: {e.Reason}"))})",
                "check the stack (dark or empty views?) and --exclude-views");
        var result = new PreparedSeries(spec.Stack, spec.Angles, keep, excluded, !ordering.IsIdentity) { SortedInputViews = ordering.SortedToInput };
        report.Results["preparation"] = new
        {
            sorted = result.Sorted,
            excludedViews = excluded.Select(e => new { view = e.View, oneBased = e.View + 1, tilt = e.Tilt, problem = e.Problem.ToString(), reason = e.Reason }).ToArray(),
            inputViews = result.Unchanged ? null : keep,
            stack = result.Unchanged ? null : spec.OutputPath(StackSuffix),
        };
        if (result.Unchanged) return result;

        string preparedStack = spec.OutputPath(StackSuffix), preparedAngles = spec.OutputPath(AnglesSuffix);
        log.LogWarning("the stages align {Stack}: the {Count} views fit to align, in increasing tilt order{Sorted}; every output refers to it",
            preparedStack, keep.Length, result.Sorted ? " (the stack was not in tilt order)" : "");
        report.Warnings.Add($"aligned {Path.GetFileName(preparedStack)}: {keep.Length} of {tilts.Length} views" +
            (result.Sorted ? ", sorted by tilt" : "") + (excluded.Count > 0 ? $", views {string.Join(",", excluded.Select(e => e.View + 1))} (1-based) left out" : ""));
        report.Stage("prepare", () =>
        {
            var prepared = new ImageStack(stack.Nx, stack.Ny, keep.Length);
            for (int k = 0; k < keep.Length; k++) stack.ReadView(keep[k]).CopyTo(prepared.View(k));
            MrcHeader header;
            using (var reader = MrcReader.Open(spec.Stack)) header = reader.Header;
            MrcWriter.WriteStack(preparedStack, prepared, MrcMode.Float32, MrcWriter.CopyHeaderOptions(header) with
            {
                Labels = [$"tomalign: views {string.Join(",", keep.Select(v => (v + 1).ToString(CultureInfo.InvariantCulture)))} of {Path.GetFileName(spec.Stack)}"],
            });
            ImodText.WriteAngles(preparedAngles, keep.Select(v => tilts[v]).ToArray());
        });
        report.Outputs.AddRange([Path.GetFullPath(preparedStack), Path.GetFullPath(preparedAngles)]);
        return result with { Stack = preparedStack, Angles = preparedAngles };
    }
}

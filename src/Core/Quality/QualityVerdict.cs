using System.Text.Json.Serialization;

namespace Tomalign.Core.Quality;

/// <summary>
/// How far an alignment can be trusted, from what the data say (DESIGN.md, "Knowing when it is wrong").
/// The order matters: a verdict is the worst severity among its reasons.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict
{
    /// <summary>Every check passed (reasons of this severity are notes).</summary>
    [JsonStringEnumMemberName("good")] Good,
    /// <summary>Something is weak: the outputs may be right, look at the reasons before trusting them.</summary>
    [JsonStringEnumMemberName("doubtful")] Doubtful,
    /// <summary>The data do not support the alignment: do not use it without fixing the cause.</summary>
    [JsonStringEnumMemberName("unreliable")] Unreliable,
}

/// <summary>
/// One finding of <see cref="QualityAssessor"/>: a stable code (for scripts and tests), its severity, and a message
/// with the numbers that led to it; <paramref name="Views"/> lists the views it concerns (0-based), empty when global.
/// </summary>
public sealed record QualityReason(string Code, Verdict Severity, string Message, IReadOnlyList<int> Views)
{
    public QualityReason(string code, Verdict severity, string message) : this(code, severity, message, []) { }

    /// <summary>"unreliable: message" — the console and report line.</summary>
    public override string ToString() => $"{Severity.ToString().ToLowerInvariant()}: {Message}";
}

/// <summary>
/// The verdict of one alignment and every reason for it (worst first). <see cref="UnsolvedViews"/>: views the solve left
/// at their start values (no landmark); <see cref="ExcludedViews"/>: views left out before the solve (blank).
/// </summary>
public sealed record QualityVerdict(Verdict Verdict, IReadOnlyList<QualityReason> Reasons, IReadOnlyList<int> UnsolvedViews, IReadOnlyList<int> ExcludedViews)
{
    /// <summary>The verdict as the reports write it: good, doubtful or unreliable.</summary>
    [JsonIgnore] public string Name => Verdict.ToString().ToLowerInvariant();

    /// <summary>The reasons of a given code (tests, scripts).</summary>
    public IEnumerable<QualityReason> Find(string code) => Reasons.Where(r => r.Code == code);

    /// <summary>One line: the verdict and the messages of the reasons at that severity.</summary>
    public string Summary() => Verdict == Verdict.Good
        ? "good"
        : $"{Name}: {string.Join("; ", Reasons.Where(r => r.Severity == Verdict).Select(r => r.Message))}";
}

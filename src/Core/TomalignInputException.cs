namespace Tomalign.Core;

/// <summary>
/// An error the user can cause and fix (bad header, truncated file, count mismatch, NaN...).
/// The CLI prints it as one line "FILE: PROBLEM. FIX" and exits with code 2, without a stack trace.
/// </summary>
public sealed class TomalignInputException : Exception
{
    public TomalignInputException(string? file, string problem, string fix, Exception? inner = null)
        : base(Compose(file, problem, fix), inner)
    {
        File = file;
        Problem = problem;
        Fix = fix;
    }

    /// <summary>The file at fault, or null when the problem is an option or a device.</summary>
    public string? File { get; }
    public string Problem { get; }
    public string Fix { get; }

    private static string Compose(string? file, string problem, string fix)
    {
        string head = file is null ? problem : $"{file}: {problem}";
        head = head.TrimEnd('.');
        return string.IsNullOrWhiteSpace(fix) ? head + "." : $"{head}. Fix: {fix}";
    }
}

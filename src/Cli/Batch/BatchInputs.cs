using Tomalign.Cli.Serve;
using Tomalign.Core;

namespace Tomalign.Cli.Batch;

/// <summary>One tilt series of a batch: its stack and the angle file found beside it (.rawtlt, .tlt or SerialEM's .mdoc).</summary>
internal sealed record BatchSeries(string Stack, string Angles);

/// <summary>
/// Turns `batch`'s INPUT arguments into tilt series: a folder (every stack in it, as `serve` would queue them), a glob
/// (`data/*.mrc`, `run*/TS_*.st`: * and ? in the file name and the folder names), a list file (one input a line; # starts
/// a comment; relative paths are relative to the list), a SerialEM .mdoc (the stack beside it, NAME.mrc.mdoc → NAME.mrc,
/// NAME.mdoc → NAME.mrc or NAME.st) or a stack. Angles are found as `serve` finds them (<see cref="FolderWatcher.FindAngles"/>).
/// </summary>
internal static class BatchInputs
{
    /// <summary>
    /// The series, in the order given (a folder's and a glob's in name order), each stack once. A stack named directly
    /// (or through an mdoc or a list) without angles is an input error; in a folder or a glob it is skipped and said in
    /// <paramref name="skipped"/>.
    /// </summary>
    public static IReadOnlyList<BatchSeries> Expand(IEnumerable<string> inputs, ICollection<string>? skipped = null)
    {
        var found = new List<BatchSeries>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string stack, string? angles, string origin, bool required)
        {
            stack = Path.GetFullPath(stack);
            if (!seen.Add(stack)) return;
            angles ??= FolderWatcher.FindAngles(stack);
            if (angles is null)
            {
                if (required)
                    throw new TomalignInputException(stack, "has no angle file beside it (NAME.rawtlt, NAME.tlt, NAME.mrc.mdoc or NAME.mdoc)",
                        "put the tilt angles beside the stack under one of those names");
                seen.Remove(stack);
                skipped?.Add($"{stack}: no angle file beside it ({origin})");
                return;
            }
            found.Add(new BatchSeries(stack, Path.GetFullPath(angles)));
        }
        foreach (string input in inputs) Visit(input, Add, listDepth: 0);
        if (found.Count == 0)
            throw new TomalignInputException(null, $"no tilt series found in {string.Join(", ", inputs)}" +
                (skipped is { Count: > 0 } ? $" ({skipped.Count} stacks without angles)" : ""),
                "give folders, globs, a list file, mdocs or stacks (.mrc/.st) with their angles beside them");
        return found;
    }

    private static void Visit(string input, Action<string, string?, string, bool> add, int listDepth)
    {
        if (Directory.Exists(input))
        {
            foreach (string f in Directory.EnumerateFiles(input).Order(StringComparer.Ordinal))
                if (!Path.GetFileName(f).StartsWith('.') && FolderWatcher.IsStack(f)) add(f, null, $"folder {input}", false);
            return;
        }
        if (input.IndexOfAny(['*', '?']) >= 0)
        {
            var matches = Glob(input).ToList();
            if (matches.Count == 0)
                throw new TomalignInputException(input, "matches no file", "check the pattern (quote it so that the shell passes it as it is)");
            foreach (string f in matches)
            {
                if (FolderWatcher.IsStack(f)) add(f, null, $"glob {input}", false);
                else if (f.EndsWith(".mdoc", StringComparison.OrdinalIgnoreCase)) AddMdoc(f, add);
            }
            return;
        }
        if (!File.Exists(input))
            throw new TomalignInputException(input, "does not exist", "give a folder, a glob, a list file, an .mdoc or a stack");
        if (FolderWatcher.IsStack(input)) add(input, null, "given", true);
        else if (input.EndsWith(".mdoc", StringComparison.OrdinalIgnoreCase)) AddMdoc(input, add);
        else
        {
            if (listDepth > 4) throw new TomalignInputException(input, "is a list nested too deep", "list stacks, folders, globs or mdocs, not lists of lists of lists");
            string dir = Path.GetDirectoryName(Path.GetFullPath(input))!;
            foreach (string raw in File.ReadLines(input))
            {
                string line = raw.Trim();
                if (line.Length == 0 || line.StartsWith('#')) continue;
                if (line.IndexOf('\0') >= 0 || line.Any(char.IsControl))
                    throw new TomalignInputException(input, "is not a text list of inputs", "give one stack, folder, glob or mdoc a line");
                Visit(Path.IsPathRooted(line) ? line : Path.Combine(dir, line), add, listDepth + 1);
            }
        }
    }

    private static void AddMdoc(string mdoc, Action<string, string?, string, bool> add)
    {
        string withoutMdoc = mdoc[..^".mdoc".Length];
        string? stack = FolderWatcher.IsStack(withoutMdoc) && File.Exists(withoutMdoc) ? withoutMdoc
            : FolderWatcher.StackExtensions.Select(e => withoutMdoc + e).FirstOrDefault(File.Exists);
        if (stack is null)
            throw new TomalignInputException(mdoc, "has no stack beside it", $"put {Path.GetFileName(withoutMdoc)} (or NAME.mrc/NAME.st) beside the mdoc");
        add(stack, mdoc, "mdoc", true);
    }

    /// <summary>Files matching a pattern with * and ? in any path component (no **).</summary>
    private static IEnumerable<string> Glob(string pattern)
    {
        string full = Path.GetFullPath(pattern);
        string root = Path.GetPathRoot(full)!;
        string[] parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        IEnumerable<string> current = [root];
        for (int i = 0; i < parts.Length; i++)
        {
            bool last = i == parts.Length - 1;
            string part = parts[i];
            current = current.SelectMany<string, string>(dir =>
            {
                if (!Directory.Exists(dir)) return Array.Empty<string>();
                if (part.IndexOfAny(['*', '?']) < 0)
                {
                    string p = Path.Combine(dir, part);
                    bool there = last ? File.Exists(p) : Directory.Exists(p);
                    return there ? new[] { p } : Array.Empty<string>();
                }
                var entries = last ? Directory.EnumerateFiles(dir, part) : Directory.EnumerateDirectories(dir, part);
                return entries.Order(StringComparer.Ordinal);
            }).ToList();
        }
        return current;
    }
}

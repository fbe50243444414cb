namespace Tomalign.Cli.Serve;

/// <summary>
/// Checks paths that arrive in requests: only files inside the configured folders (watch and out)
/// may be named, after normalisation and after following symbolic links; `..` is refused outright.
/// </summary>
internal sealed class PathGuard
{
    private readonly string[] _roots;

    public PathGuard(params string[] roots) => _roots = roots.Select(r => WithSeparator(RealPath(Path.GetFullPath(r)))).ToArray();

    /// <summary>
    /// The full path of <paramref name="raw"/> (relative paths are taken from <paramref name="baseDir"/>), or
    /// why it is refused: Status 400 for a malformed path, 403 for one outside the folders.
    /// </summary>
    public (string? Full, int Status, string? Problem) Check(string? raw, string baseDir)
    {
        if (string.IsNullOrWhiteSpace(raw)) return (null, 400, "no path was given");
        if (raw.IndexOfAny(['\0', '\n', '\r']) >= 0) return (null, 400, "the path holds control characters");
        if (raw.Split('/', '\\').Any(part => part == "..")) return (null, 400, $"'{raw}': '..' is not allowed in paths");
        string full;
        try { full = Path.GetFullPath(raw, baseDir); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return (null, 400, $"'{raw}' is not a path");
        }
        string real;
        try { real = RealPath(full); }
        catch (IOException) { return (null, 403, $"'{raw}' could not be resolved"); }
        if (!_roots.Any(root => real.StartsWith(root, StringComparison.Ordinal)))
            return (null, 403, $"'{raw}' is outside the watched and output folders");
        return (full, 200, null);
    }

    /// <summary>A plain file name (no folder, no `..`, nothing hidden); for the files of a job's output folder.</summary>
    public static bool IsPlainFileName(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && name.IndexOfAny(['/', '\\', ':', '%']) < 0
        && !name.StartsWith('.') && Path.GetFileName(name) == name && !Path.IsPathRooted(name);

    private static string WithSeparator(string dir) => dir.EndsWith(Path.DirectorySeparatorChar) ? dir : dir + Path.DirectorySeparatorChar;

    /// <summary>The path with every symbolic link along it followed (the parts that do not exist are kept as they are).</summary>
    internal static string RealPath(string full, int depth = 0)
    {
        if (depth > 32) throw new IOException("too many levels of symbolic links");
        string root = Path.GetPathRoot(full)!;
        string current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                next = RealPath(Path.GetFullPath(target.FullName), depth + 1);
            current = next;
        }
        return current;
    }
}

using Microsoft.Extensions.Logging;

namespace Tomalign.Cli.Serve;

/// <summary>
/// Finds new tilt series in the watched folder by scanning it (more reliable than file-system
/// events on network and container file systems): a stack (.mrc/.st, not a hidden temporary file)
/// with its angle file beside it, both unchanged in size and time for the settle interval, is queued.
/// </summary>
internal sealed class FolderWatcher(string folder, TimeSpan settle, Action<string, string> queue, Func<string, bool> known, ILogger log)
{
    private readonly Dictionary<string, (long Size, DateTime Written, DateTime Since)> _seen = new(StringComparer.Ordinal);

    public static readonly string[] StackExtensions = [".mrc", ".st"];

    /// <summary>Scans until <paramref name="stop"/>; a failed scan is logged and the next one tries again.</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try { ScanOnce(DateTime.UtcNow); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.LogWarning("scan of {Folder} failed: {Message}", folder, e.Message);
            }
            try { await Task.Delay(interval, stop); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>One look at the folder: queues every series that has settled.</summary>
    public void ScanOnce(DateTime now)
    {
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
        {
            string fileName = Path.GetFileName(path);
            if (fileName.StartsWith('.') || !IsStack(path)) continue;
            string stack = Path.GetFullPath(path);
            if (known(stack)) continue;
            present.Add(stack);
            bool stackSettled = Settled(stack, now);
            if (FindAngles(stack) is not { } angles) continue;
            present.Add(angles);
            if (Settled(angles, now) && stackSettled)
            {
                queue(stack, angles);
                _seen.Remove(stack);
                _seen.Remove(angles);
            }
        }
        foreach (string gone in _seen.Keys.Where(k => !present.Contains(k)).ToList()) _seen.Remove(gone);
    }

    public static bool IsStack(string path) => StackExtensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The angle file of a stack: NAME.rawtlt, else NAME.tlt, else SerialEM's NAME.mrc.mdoc or NAME.mdoc;
    /// null when none is there (yet).
    /// </summary>
    public static string? FindAngles(string stack)
    {
        string dir = Path.GetDirectoryName(stack)!, name = Path.GetFileNameWithoutExtension(stack);
        string[] candidates =
        [
            Path.Combine(dir, name + ".rawtlt"), Path.Combine(dir, name + ".tlt"),
            stack + ".mdoc", Path.Combine(dir, name + ".mdoc"),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>True when the file has kept its size and time for the settle interval.</summary>
    private bool Settled(string path, DateTime now)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return false;
        var key = (info.Length, info.LastWriteTimeUtc);
        if (_seen.TryGetValue(path, out var s) && s.Size == key.Length && s.Written == key.LastWriteTimeUtc)
            return now - s.Since >= settle;
        _seen[path] = (key.Length, key.LastWriteTimeUtc, now);
        return false;
    }
}

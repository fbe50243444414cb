using System.Diagnostics;
using System.Text;

namespace Tomalign.Cli.Batch;

/// <summary>SLURM's commands did not answer as expected (not installed, slurmctld down, a rejected submission).</summary>
internal sealed class SlurmException(string message) : Exception(message);

/// <summary>One array task as squeue shows it: "JOBID_TASK", its state (PENDING, RUNNING, COMPLETING...) and the reason it waits.</summary>
internal sealed record SlurmTaskState(string Id, string State, string Reason);

/// <summary>
/// The SLURM commands a batch uses: sbatch, squeue, scontrol and scancel (no sacct: it needs slurmdbd, which a small
/// cluster may not run). Each call has a time limit; a failure is a <see cref="SlurmException"/> with SLURM's own words.
/// </summary>
internal sealed class SlurmCommands(TimeSpan? timeout = null)
{
    private readonly TimeSpan _timeout = timeout ?? TimeSpan.FromSeconds(60);

    /// <summary>Submits a batch script (its #SBATCH lines say everything); returns the job id.</summary>
    public string Submit(string script, string workingDirectory)
    {
        var (code, stdout, stderr) = Run("sbatch", ["--parsable", script], workingDirectory);
        string id = stdout.Trim().Split(';')[0];   // --parsable: "JOBID" or "JOBID;CLUSTER"
        if (code != 0 || id.Length == 0 || !id.All(char.IsAsciiDigit))
            throw new SlurmException($"sbatch {script} failed (exit {code}): {Oneline(stderr + stdout)}");
        return id;
    }

    /// <summary>
    /// The array tasks of this user still known to squeue (pending, running, completing, requeued...), by "JOBID_TASK";
    /// a task that ended is no longer listed.
    /// </summary>
    public Dictionary<string, SlurmTaskState> Queue(IReadOnlyCollection<string> jobIds)
    {
        var result = new Dictionary<string, SlurmTaskState>(StringComparer.Ordinal);
        if (jobIds.Count == 0) return result;
        // --me, not -j: squeue -j fails for a job id that slurmctld has already forgotten, and one such id spoils the whole answer.
        var (code, stdout, stderr) = Run("squeue", ["--me", "-h", "-r", "-o", "%i|%T|%r"], null);
        if (code != 0) throw new SlurmException($"squeue failed (exit {code}): {Oneline(stderr + stdout)}");
        var wanted = jobIds.ToHashSet(StringComparer.Ordinal);
        foreach (string line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] f = line.Split('|');
            if (f.Length < 3) continue;
            int underscore = f[0].IndexOf('_');
            if (underscore <= 0 || !wanted.Contains(f[0][..underscore])) continue;
            result[f[0]] = new SlurmTaskState(f[0], f[1], f[2]);
        }
        return result;
    }

    /// <summary>This user's array jobs in squeue by job name: name → array job id.</summary>
    public Dictionary<string, string> ArraysByName()
    {
        var (code, stdout, stderr) = Run("squeue", ["--me", "-h", "-o", "%F|%j"], null);
        if (code != 0) throw new SlurmException($"squeue failed (exit {code}): {Oneline(stderr + stdout)}");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (line.Split('|') is [var id, var name] && id.All(char.IsAsciiDigit)) result.TryAdd(name, id);
        return result;
    }

    /// <summary>scontrol show job's fields of one task ("JobState", "Reason", "ExitCode", ...); empty when slurmctld no longer knows it.</summary>
    public Dictionary<string, string> ShowJob(string taskId)
    {
        var (code, stdout, _) = Run("scontrol", ["show", "job", "-o", taskId], null);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        if (code != 0) return fields;
        foreach (string token in stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = token.IndexOf('=');
            if (eq > 0) fields.TryAdd(token[..eq], token[(eq + 1)..]);
        }
        return fields;
    }

    /// <summary>Cancels whole array jobs (scancel); errors for jobs already gone are ignored.</summary>
    public void Cancel(IReadOnlyCollection<string> jobIds)
    {
        if (jobIds.Count == 0) return;
        var (code, stdout, stderr) = Run("scancel", [.. jobIds], null);
        if (code != 0 && !(stderr + stdout).Contains("Invalid job id", StringComparison.OrdinalIgnoreCase))
            throw new SlurmException($"scancel {string.Join(' ', jobIds)} failed (exit {code}): {Oneline(stderr + stdout)}");
    }

    /// <summary>True when sbatch, squeue and scancel are on the PATH.</summary>
    public static bool Available() =>
        new[] { "sbatch", "squeue", "scancel", "scontrol" }.All(c => FindOnPath(c) is not null);

    public static string? FindOnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(d => Path.Combine(d, command)).FirstOrDefault(File.Exists);

    private (int Code, string Out, string Err) Run(string command, IEnumerable<string> args, string? workingDirectory)
    {
        var psi = new ProcessStartInfo(command)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi) ?? throw new SlurmException($"{command} could not be started"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new SlurmException($"{command} could not be started ({e.Message}): is SLURM installed and on the PATH?");
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(_timeout))
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new SlurmException($"{command} did not answer within {_timeout.TotalSeconds:F0} s (slurmctld down?)");
            }
            p.WaitForExit();
            return (p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }

    internal static string Oneline(string text)
    {
        var sb = new StringBuilder();
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (sb.Length > 0) sb.Append(" / ");
            sb.Append(line);
        }
        return sb.Length == 0 ? "(no message)" : sb.ToString();
    }
}

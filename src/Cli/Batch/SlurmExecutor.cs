using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Tomalign.Cli.Serve;
using Tomalign.Core.Formats;

namespace Tomalign.Cli.Batch;

/// <summary>
/// Runs queued jobs of a <see cref="JobStore"/> on SLURM: all the queued jobs of one submission become one job array
/// (`sbatch --array=0-N[%throttle] --requeue`), task i running `tomalign run ... --resume --out OUT/NAME` for the i-th
/// job, with the sbatch options of <see cref="SlurmOptions"/>. The queue records each job's array job and task, so a
/// restarted batch or serve re-attaches to them instead of submitting them again.
/// <para>
/// What a task did is read from the file it writes when its run ends (OUT/NAME/NAME.slurm-exit: "JOBID_TASK EXITCODE"):
/// 0 done, 4 unreliable, 2 failed for its input (final), anything else — or a task that left squeue without writing it
/// (killed, cancelled, its node lost, out of time or memory) — an infrastructure fault: queued again, to resume from its
/// last finished stage, up to <see cref="BatchSettings.Retries"/> times. A task SLURM itself requeues (node failure,
/// preemption, scontrol requeue) stays in squeue and is simply waited for; it resumes as well.
/// </para>
/// </summary>
internal sealed class SlurmExecutor(JobStore store, string outDir, BatchSettings settings, ILogger log, SlurmCommands? slurm = null)
{
    public const string ScriptsFolder = ".tomalign-batch";
    public const string ExitSuffix = ".slurm-exit", LogSuffix = ".slurm.log";
    private readonly SlurmCommands _slurm = slurm ?? new SlurmCommands();
    private readonly Dictionary<long, int> _unexplained = [];

    /// <summary>The command line a task starts tomalign with: the settings' "tomalign", else this very build (its apphost, or dotnet with its dll).</summary>
    public IReadOnlyList<string> TomalignCommand() => ResolveTomalign(settings.Slurm.Tomalign);

    public static IReadOnlyList<string> ResolveTomalign(string? configured)
    {
        if (configured is not null)
        {
            string full = Path.GetFullPath(configured);
            if (!File.Exists(full))
                throw new Core.TomalignInputException(configured, "does not exist (the settings' slurm.tomalign)", "give the path of the built tomalign (or its tomalign.dll) on the shared file system");
            return full.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? [Dotnet(), full] : [full];
        }
        string dir = Path.GetDirectoryName(typeof(SlurmExecutor).Assembly.Location) is { Length: > 0 } d ? d : AppContext.BaseDirectory;
        string apphost = Path.Combine(dir, OperatingSystem.IsWindows() ? "tomalign.exe" : "tomalign");
        if (File.Exists(apphost)) return [apphost];
        return [Dotnet(), Path.Combine(dir, "tomalign.dll")];
    }

    private static string Dotnet()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        if (Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet") return p;
        return SlurmCommands.FindOnPath("dotnet") ?? "dotnet";
    }

    /// <summary>Submits every queued job as one array; returns the array's job id, or null when none was queued.</summary>
    public string? SubmitQueued()
    {
        AdoptSubmitted();
        var jobs = store.List().Where(j => j.State == JobStates.Queued).ToList();
        if (jobs.Count == 0) return null;
        string token = Guid.NewGuid().ToString("N")[..12];
        var tomalign = TomalignCommand();
        var entries = jobs.Select((j, i) => (Job: j, Task: i, Args: Prepare(j))).ToList();
        string scripts = Path.Combine(outDir, ScriptsFolder);
        Directory.CreateDirectory(scripts);
        string script = Path.Combine(scripts, $"array-{DateTime.UtcNow:yyyyMMdd-HHmmss-fff}.sbatch");
        File.WriteAllText(script, Script(entries.Select(e => (e.Job.Name, Path.Combine(outDir, e.Job.Name), e.Args)).ToList(), tomalign, scripts, token));
        store.MarkSubmitting(jobs.Select(j => j.Id).ToList(), token, entries.Select(e => e.Task).ToList());
        string jobId = _slurm.Submit(script, outDir);
        store.SetSubmitted(jobs.Select(j => j.Id).ToList(), jobId, entries.Select(e => e.Task).ToList());
        log.LogInformation("submitted {Count} series as SLURM array job {JobId} ({Script})", jobs.Count, jobId, script);
        return jobId;
    }

    /// <summary>
    /// Queued jobs marked as being submitted (<see cref="JobStore.MarkSubmitting"/>) by a process that stopped before it
    /// recorded the job id: when squeue still shows their array (by its name, tomalign-TOKEN), they are attached to it.
    /// </summary>
    private void AdoptSubmitted()
    {
        var pending = store.List().Where(j => j.State == JobStates.Queued && j.SlurmJob?.StartsWith(JobStore.PendingPrefix, StringComparison.Ordinal) == true)
            .GroupBy(j => j.SlurmJob![JobStore.PendingPrefix.Length..]).ToList();
        if (pending.Count == 0) return;
        Dictionary<string, string> byName;
        try { byName = _slurm.ArraysByName(); }
        catch (SlurmException e)
        {
            throw new SlurmException($"cannot tell whether an interrupted submission reached SLURM ({e.Message}); not submitting again");
        }
        foreach (var group in pending)
        {
            if (!byName.TryGetValue(JobName(group.Key), out string? jobId)) continue;   // never submitted, or already gone: submitted (again) below
            store.SetSubmitted(group.Select(j => j.Id).ToList(), jobId, group.Select(j => j.SlurmTask ?? 0).ToList());
            log.LogInformation("re-attached {Count} series to SLURM array job {JobId}, submitted before an interruption", group.Count(), jobId);
        }
    }

    private static string JobName(string token) => "tomalign-" + token;

    /// <summary>The job's output folder, its angles as a file `run` reads (SerialEM's .mdoc → OUT/NAME/NAME.rawtlt), and its run arguments.</summary>
    private IReadOnlyList<string> Prepare(Job job)
    {
        string dir = Path.Combine(outDir, job.Name);
        Directory.CreateDirectory(dir);
        string angles = job.Angles;
        if (angles.EndsWith(".mdoc", StringComparison.OrdinalIgnoreCase))
        {
            angles = Path.Combine(dir, job.Name + ".rawtlt");
            ImodText.WriteAngles(angles, SerialEmMdoc.ReadTiltAngles(job.Angles));
        }
        return ServeSettings.Parse(job.Settings, null).RunArguments(job.Stack, angles, dir, job.Name, resume: true).ToList();
    }

    /// <summary>The array's batch script: its #SBATCH options, then one case per task (its folder, its log, its exit file).</summary>
    internal string Script(IReadOnlyList<(string Name, string Dir, IReadOnlyList<string> Args)> tasks, IReadOnlyList<string> tomalign, string scripts,
        string token = "batch")
    {
        var o = settings.Slurm;
        var sb = new StringBuilder();
        sb.Append("#!/bin/bash\n");
        sb.Append("# Written by tomalign batch: one task per tilt series, each `tomalign run ... --resume` into its own folder.\n");
        sb.Append($"#SBATCH --job-name={JobName(token)}\n");
        sb.Append($"#SBATCH --array=0-{tasks.Count - 1}{(o.Throttle is { } t ? "%" + t.ToString(CultureInfo.InvariantCulture) : "")}\n");
        sb.Append("#SBATCH --requeue\n");
        sb.Append("#SBATCH --ntasks=1\n");
        sb.Append($"#SBATCH --cpus-per-task={o.Cpus.ToString(CultureInfo.InvariantCulture)}\n");
        sb.Append($"#SBATCH --mem={o.Memory}\n");
        sb.Append($"#SBATCH --time={o.Time}\n");
        int gpus = o.GpusFor(settings.Run.Device);
        if (gpus > 0)
            sb.Append(o.GpuFlag == "gpus" ? $"#SBATCH --gpus={gpus}\n" : $"#SBATCH --gres=gpu:{(o.GpuType is { } gt ? gt + ":" : "")}{gpus}\n");
        if (o.Partition is { } p) sb.Append($"#SBATCH --partition={p}\n");
        if (o.Account is { } a) sb.Append($"#SBATCH --account={a}\n");
        if (o.Qos is { } q) sb.Append($"#SBATCH --qos={q}\n");
        foreach (string extra in o.Extra) sb.Append($"#SBATCH {extra}\n");
        sb.Append($"#SBATCH --output={Path.Combine(scripts, "slurm-%A_%a.out")}\n");
        sb.Append('\n');
        sb.Append("set -u\n");
        sb.Append("# The tomalign this batch was built with (the same binary on every node: a shared file system).\n");
        sb.Append($"TOMALIGN=({string.Join(' ', tomalign.Select(Quote))})\n");
        sb.Append("case \"${SLURM_ARRAY_TASK_ID:?this script runs as a SLURM array task}\" in\n");
        for (int i = 0; i < tasks.Count; i++)
        {
            var (name, dir, args) = tasks[i];
            sb.Append($"  {i.ToString(CultureInfo.InvariantCulture)}) DIR={Quote(dir)}; NAME={Quote(name)}\n");
            sb.Append($"     ARGS=({string.Join(' ', args.Select(Quote))}) ;;\n");
        }
        sb.Append("  *) echo \"no series for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n");
        sb.Append("esac\n");
        sb.Append($"EXIT_FILE=\"$DIR/$NAME{ExitSuffix}\"\n");
        sb.Append("rm -f \"$EXIT_FILE\"\n");
        sb.Append($"exec >>\"$DIR/$NAME{LogSuffix}\" 2>&1\n");
        sb.Append("echo \"--- SLURM task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}, restart ${SLURM_RESTART_COUNT:-0}, on $(hostname), $(date -u '+%F %T') UTC\"\n");
        sb.Append("# Half-written outputs of an interrupted attempt (only one attempt of a task runs at a time).\n");
        sb.Append("find \"$DIR\" -maxdepth 1 -name '*.tmp-*' -type f -delete\n");
        foreach (string line in o.Setup) sb.Append(line).Append('\n');
        sb.Append("\"${TOMALIGN[@]}\" \"${ARGS[@]}\"\n");
        sb.Append("RC=$?\n");
        sb.Append("echo \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} $RC\" > \"$EXIT_FILE.tmp\" && mv -f \"$EXIT_FILE.tmp\" \"$EXIT_FILE\"\n");
        sb.Append("echo \"--- exit $RC\"\n");
        sb.Append("exit $RC\n");
        return sb.ToString();
    }

    /// <summary>Bash single quotes.</summary>
    internal static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:,@%".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>
    /// One look at SLURM: every job of the queue running on SLURM whose task has left squeue is finished from its exit
    /// file (or queued again when it has none: the task was lost). Returns false when squeue did not answer (nothing changed).
    /// </summary>
    public bool Poll()
    {
        var running = store.List().Where(j => j.State == JobStates.Running && j.SlurmJob is not null).ToList();
        if (running.Count == 0) return true;
        Dictionary<string, SlurmTaskState> queue;
        try { queue = _slurm.Queue(running.Select(j => j.SlurmJob!).Distinct().ToList()); }
        catch (SlurmException e)
        {
            log.LogWarning("{Message}; trying again at the next look", e.Message);
            return false;
        }
        foreach (var job in running)
        {
            if (queue.TryGetValue(job.SlurmId!, out var task))
            {
                _unexplained.Remove(job.Id);
                string stage = task.State == "PENDING" ? $"pending ({task.Reason})" : task.State.ToLowerInvariant();
                if (job.Stage != stage) store.SetStage(job.Id, stage);
                continue;
            }
            Finish(job);
        }
        return true;
    }

    private void Finish(Job job)
    {
        string dir = Path.Combine(outDir, job.Name);
        string exitFile = Path.Combine(dir, job.Name + ExitSuffix);
        int? code = ReadExit(exitFile, job.SlurmId!);
        if (code is null)
        {
            // Gone from squeue without its exit file: killed, cancelled, out of time or memory, or its node lost. A task that
            // completed may not show its file yet on a shared file system: wait a few looks for that one.
            var info = _slurm.ShowJob(job.SlurmId!);
            string state = info.GetValueOrDefault("JobState", "unknown");
            int looks = _unexplained[job.Id] = _unexplained.GetValueOrDefault(job.Id) + 1;
            if (state == "COMPLETED" && looks < 5) return;
            if (state is "PENDING" or "RUNNING" or "CONFIGURING" or "COMPLETING" or "REQUEUED" or "RESIZING" && looks < 5) return;
            _unexplained.Remove(job.Id);
            string why = $"SLURM task {job.SlurmId} ended without finishing its run (state {state}" +
                         (info.GetValueOrDefault("Reason") is { } r && r != "None" ? $", {r}" : "") + ")";
            Retry(job, why);
            return;
        }
        _unexplained.Remove(job.Id);
        switch (code)
        {
            case ExitCodes.Ok:
                store.Finish(job.Id, JobStates.Done, null);
                log.LogInformation("{Name} done (SLURM task {Task})", job.Name, job.SlurmId);
                break;
            case ExitCodes.Unreliable:
            {
                string why = "alignment unreliable" + (LastError(dir, job.Name) is { } m ? $": {m}" : $" (see {job.Name}.run.json)");
                store.Finish(job.Id, JobStates.Unreliable, why);
                log.LogWarning("{Name}: {Why}", job.Name, why);
                break;
            }
            case ExitCodes.InputError:
            {
                string why = LastError(dir, job.Name) ?? $"bad input (exit 2; see {job.Name}{LogSuffix})";
                store.Finish(job.Id, JobStates.Failed, why);
                log.LogWarning("{Name} failed: {Why}", job.Name, why);
                break;
            }
            case ExitCodes.Cancelled:
                store.Finish(job.Id, JobStates.Cancelled, "cancelled (exit 130)");
                break;
            default:
                Retry(job, $"SLURM task {job.SlurmId} exited {code}" + (LastError(dir, job.Name) is { } e ? $": {e}" : ""));
                break;
        }
    }

    /// <summary>An infrastructure fault: queued again (to resume) while attempts are left, else failed with the reason.</summary>
    private void Retry(Job job, string why)
    {
        if (job.Attempts <= settings.Retries)
        {
            store.RequeueResume(job.Id, why);
            log.LogWarning("{Name}: {Why}; queued again to resume (attempt {Next} of {Max})", job.Name, why, job.Attempts + 1, settings.Retries + 1);
        }
        else
        {
            store.Finish(job.Id, JobStates.Failed, $"{why}; gave up after {job.Attempts} attempts");
            log.LogWarning("{Name} failed: {Why}; gave up after {Attempts} attempts", job.Name, why, job.Attempts);
        }
    }

    private static int? ReadExit(string file, string taskId)
    {
        try
        {
            if (!File.Exists(file)) return null;
            string[] f = File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return f.Length == 2 && f[0] == taskId && int.TryParse(f[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int c) ? c : null;
        }
        catch (IOException) { return null; }
    }

    /// <summary>The last error line the run wrote to the task's log ("error: ...", "internal error: ..."), or the quality reasons' first line.</summary>
    internal static string? LastError(string dir, string name)
    {
        string logFile = Path.Combine(dir, name + LogSuffix);
        if (!File.Exists(logFile)) return null;
        string[] lines;
        try { lines = File.ReadAllLines(logFile); }
        catch (IOException) { return null; }
        int start = Array.FindLastIndex(lines, l => l.StartsWith("--- SLURM task", StringComparison.Ordinal));
        var attempt = lines.Skip(Math.Max(0, start)).Select(l => l.Trim()).ToList();
        string? error = attempt.LastOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal) || l.StartsWith("internal error:", StringComparison.Ordinal));
        if (error is not null) return error;
        int quality = attempt.FindLastIndex(l => l.StartsWith("Quality:", StringComparison.Ordinal));
        return quality >= 0 ? string.Join("; ", attempt.Skip(quality).Take(4).Where(l => !l.StartsWith("---", StringComparison.Ordinal))) : null;
    }

    /// <summary>Cancels one job's SLURM task and marks the job cancelled; false when it is not running on SLURM.</summary>
    public bool Cancel(long id, string why)
    {
        if (store.Get(id) is not { State: JobStates.Running, SlurmJob: { } slurmJob } job || slurmJob.StartsWith(JobStore.PendingPrefix, StringComparison.Ordinal)) return false;
        _slurm.Cancel([job.SlurmId!]);
        store.Finish(id, JobStates.Cancelled, why);
        log.LogInformation("{Name}: SLURM task {Task} cancelled", job.Name, job.SlurmId);
        return true;
    }

    /// <summary>Cancels the SLURM jobs of every job still running on SLURM, and marks those jobs cancelled.</summary>
    public int CancelAll(string why)
    {
        var running = store.List().Where(j => j.State == JobStates.Running && j.SlurmJob is not null).ToList();
        var ids = running.Select(j => j.SlurmJob!).Distinct().ToList();
        _slurm.Cancel(ids);
        foreach (var job in running) store.Finish(job.Id, JobStates.Cancelled, why);
        if (ids.Count > 0) log.LogWarning("cancelled SLURM job{S} {Ids} ({Count} series)", ids.Count == 1 ? "" : "s", string.Join(", ", ids), running.Count);
        return running.Count;
    }
}

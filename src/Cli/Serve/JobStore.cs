using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Tomalign.Cli.Serve;

/// <summary>The states of a job; the strings are an interface (the API and the page show them).</summary>
internal static class JobStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Done = "done";
    /// <summary>Finished with its outputs written, but the alignment's quality verdict is unreliable (the reasons are in the job's error).</summary>
    public const string Unreliable = "unreliable";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

/// <summary>One tilt series to process, as the queue holds it.</summary>
internal sealed record Job(long Id, string Stack, string Angles, string Name, string State, string? Stage, string? Error,
    string Settings, DateTimeOffset Created, DateTimeOffset? Started, DateTimeOffset? Finished, int Attempts, bool Resume,
    string? SlurmJob = null, int? SlurmTask = null)
{
    /// <summary>The SLURM task running this job ("JOBID_TASK"), when an executor handed it to SLURM.</summary>
    public string? SlurmId => SlurmJob is null ? null : $"{SlurmJob}_{SlurmTask}";
}

/// <summary>
/// The job queue of `serve`, in an embedded SQLite file (WAL journal: a killed process loses no
/// committed change). Every change is one guarded statement, made under one lock, so the
/// table is always consistent; a job left `running` by a killed process is requeued at the next start.
/// </summary>
internal sealed class JobStore : IDisposable
{
    private readonly object _gate = new();
    private readonly string _connectionString;

    private JobStore(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true }.ToString();
        Path = path;
    }

    public string Path { get; }

    public static JobStore Open(string path)
    {
        var store = new JobStore(path);
        store.Execute("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS jobs (
                id        INTEGER PRIMARY KEY AUTOINCREMENT,
                stack     TEXT NOT NULL UNIQUE,
                angles    TEXT NOT NULL,
                name      TEXT NOT NULL UNIQUE,
                state     TEXT NOT NULL,
                stage     TEXT,
                error     TEXT,
                settings  TEXT NOT NULL,
                created   TEXT NOT NULL,
                started   TEXT,
                finished  TEXT,
                attempts  INTEGER NOT NULL DEFAULT 0,
                resume    INTEGER NOT NULL DEFAULT 0
            );
            """);
        // Added for the SLURM executor (batch/serve --executor slurm): the array job and task that run the job; a queue
        // written before these columns existed gets them here.
        foreach (string column in new[] { "slurm_job TEXT", "slurm_task INTEGER" })
        {
            try { store.Execute($"ALTER TABLE jobs ADD COLUMN {column}"); }
            catch (SqliteException e) when (e.Message.Contains("duplicate column", StringComparison.OrdinalIgnoreCase)) { }
        }
        return store;
    }

    /// <summary>Jobs left `running` by a process that stopped without finishing them: queued again, to resume.</summary>
    /// With <paramref name="keepSlurm"/>, jobs running on SLURM are left to be re-attached (their tasks may still run).
    public int RequeueInterrupted(bool keepSlurm = false) =>
        Execute($"UPDATE jobs SET state = '{JobStates.Queued}', resume = 1 WHERE state = '{JobStates.Running}'" + (keepSlurm ? " AND slurm_job IS NULL" : ""));

    /// <summary>Queues a series; one whose stack is already in the table is not queued again (Added false).</summary>
    public (Job Job, bool Added) Add(string stack, string angles, string settings)
    {
        lock (_gate)
        {
            using var c = Connect();
            if (Query(c, "SELECT * FROM jobs WHERE stack = $p0", stack).FirstOrDefault() is { } existing) return (existing, false);
            string baseName = System.IO.Path.GetFileNameWithoutExtension(stack);
            string name = baseName;
            for (int i = 2; Query(c, "SELECT * FROM jobs WHERE name = $p0", name).Count > 0; i++) name = $"{baseName}-{i}";
            long id = (long)Scalar(c, """
                INSERT INTO jobs (stack, angles, name, state, settings, created) VALUES ($p0, $p1, $p2, $p3, $p4, $p5);
                SELECT last_insert_rowid();
                """, stack, angles, name, JobStates.Queued, settings, Now())!;
            return (Query(c, "SELECT * FROM jobs WHERE id = $p0", id)[0], true);
        }
    }

    public bool HasStack(string stack) => FindByStack(stack) is not null;

    public Job? FindByStack(string stack)
    {
        lock (_gate)
        {
            using var c = Connect();
            return Query(c, "SELECT * FROM jobs WHERE stack = $p0", stack).FirstOrDefault();
        }
    }

    public Job? Get(long id)
    {
        lock (_gate)
        {
            using var c = Connect();
            return Query(c, "SELECT * FROM jobs WHERE id = $p0", id).FirstOrDefault();
        }
    }

    public IReadOnlyList<Job> List()
    {
        lock (_gate)
        {
            using var c = Connect();
            return Query(c, "SELECT * FROM jobs ORDER BY id");
        }
    }

    /// <summary>Takes the oldest queued job and marks it running (one more attempt); null when none waits.</summary>
    public Job? ClaimNext()
    {
        lock (_gate)
        {
            using var c = Connect();
            var next = Query(c, $"SELECT * FROM jobs WHERE state = '{JobStates.Queued}' ORDER BY id LIMIT 1").FirstOrDefault();
            if (next is null) return null;
            using var claim = Command(c, $"UPDATE jobs SET state = '{JobStates.Running}', stage = NULL, error = NULL, started = $p1, finished = NULL, attempts = attempts + 1 WHERE id = $p0 AND state = '{JobStates.Queued}'",
                [next.Id, Now()]);
            if (claim.ExecuteNonQuery() != 1) return null;
            return Query(c, "SELECT * FROM jobs WHERE id = $p0", next.Id)[0];
        }
    }

    public void SetStage(long id, string stage) => Execute("UPDATE jobs SET stage = $p1 WHERE id = $p0", id, stage);

    /// <summary>Ends a running job: done, unreliable or failed (with its reasons or error) or cancelled.</summary>
    public void Finish(long id, string state, string? error) =>
        Execute($"UPDATE jobs SET state = $p1, error = $p2, finished = $p3, resume = 0 WHERE id = $p0 AND state = '{JobStates.Running}'",
            id, state, error, Now());

    /// <summary>A running job the service stopped before it ended: queued again, to resume from its last completed stage.</summary>
    public void Requeue(long id) =>
        Execute($"UPDATE jobs SET state = '{JobStates.Queued}', resume = 1 WHERE id = $p0 AND state = '{JobStates.Running}'", id);

    /// <summary>
    /// Marks queued jobs running on SLURM: array job <paramref name="slurmJob"/>, task i for the i-th id (one more attempt each);
    /// to resume, since SLURM runs every task with --resume.
    /// </summary>
    public void SetSubmitted(IReadOnlyList<long> ids, string slurmJob, IReadOnlyList<int> tasks)
    {
        lock (_gate)
        {
            using var c = Connect();
            using var tx = c.BeginTransaction();
            for (int i = 0; i < ids.Count; i++)
            {
                using var cmd = Command(c, $"UPDATE jobs SET state = '{JobStates.Running}', stage = NULL, error = NULL, started = $p1, finished = NULL, " +
                                           "attempts = attempts + 1, resume = 1, slurm_job = $p2, slurm_task = $p3 WHERE id = $p0", [ids[i], Now(), slurmJob, tasks[i]]);
                cmd.Transaction = tx;
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    /// <summary>
    /// Before an sbatch: the queued jobs about to be submitted under the job name tomalign-TOKEN (slurm_job "pending:TOKEN",
    /// their task numbers), so that a process killed between sbatch and <see cref="SetSubmitted"/> finds the array again
    /// instead of submitting the series a second time.
    /// </summary>
    public void MarkSubmitting(IReadOnlyList<long> ids, string token, IReadOnlyList<int> tasks)
    {
        lock (_gate)
        {
            using var c = Connect();
            using var tx = c.BeginTransaction();
            for (int i = 0; i < ids.Count; i++)
            {
                using var cmd = Command(c, $"UPDATE jobs SET slurm_job = $p1, slurm_task = $p2 WHERE id = $p0 AND state = '{JobStates.Queued}'", [ids[i], PendingPrefix + token, tasks[i]]);
                cmd.Transaction = tx;
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    public const string PendingPrefix = "pending:";

    /// <summary>A running job whose SLURM task ended for a reason outside the series (killed, node lost): queued again, to resume.</summary>
    public void RequeueResume(long id, string? why) =>
        Execute($"UPDATE jobs SET state = '{JobStates.Queued}', resume = 1, error = $p1, slurm_job = NULL, slurm_task = NULL WHERE id = $p0 AND state = '{JobStates.Running}'", id, why);

    /// <summary>Cancels a queued job (true); a job in another state is left as it is (false).</summary>
    public bool CancelQueued(long id) =>
        Execute($"UPDATE jobs SET state = '{JobStates.Cancelled}', finished = $p1 WHERE id = $p0 AND state = '{JobStates.Queued}'", id, Now()) == 1;

    /// <summary>Queues a failed or cancelled job again, from the start (true); other states are left (false).</summary>
    public bool Retry(long id) =>
        Execute($"UPDATE jobs SET state = '{JobStates.Queued}', stage = NULL, error = NULL, finished = NULL, resume = 0 " +
                $"WHERE id = $p0 AND state IN ('{JobStates.Failed}', '{JobStates.Cancelled}')", id) == 1;

    public void Dispose()
    {
        using var c = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(c);
    }

    private SqliteConnection Connect()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";
        cmd.ExecuteNonQuery();
        return c;
    }

    private int Execute(string sql, params object?[] args)
    {
        lock (_gate)
        {
            using var c = Connect();
            using var cmd = Command(c, sql, args);
            return cmd.ExecuteNonQuery();
        }
    }

    private static object? Scalar(SqliteConnection c, string sql, params object?[] args)
    {
        using var cmd = Command(c, sql, args);
        return cmd.ExecuteScalar();
    }

    private static SqliteCommand Command(SqliteConnection c, string sql, object?[] args)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        for (int i = 0; i < args.Length; i++) cmd.Parameters.AddWithValue($"$p{i}", args[i] ?? DBNull.Value);
        return cmd;
    }

    private static List<Job> Query(SqliteConnection c, string sql, params object?[] args)
    {
        using var cmd = Command(c, sql, args);
        using var r = cmd.ExecuteReader();
        var list = new List<Job>();
        while (r.Read())
        {
            string? S(string col) => r.IsDBNull(r.GetOrdinal(col)) ? null : r.GetString(r.GetOrdinal(col));
            DateTimeOffset? T(string col) => S(col) is { } t ? DateTimeOffset.Parse(t, CultureInfo.InvariantCulture) : null;
            list.Add(new Job(r.GetInt64(r.GetOrdinal("id")), S("stack")!, S("angles")!, S("name")!, S("state")!, S("stage"), S("error"),
                S("settings")!, T("created")!.Value, T("started"), T("finished"), r.GetInt32(r.GetOrdinal("attempts")), r.GetInt64(r.GetOrdinal("resume")) != 0,
                Has(r, "slurm_job") ? S("slurm_job") : null, Has(r, "slurm_task") && !r.IsDBNull(r.GetOrdinal("slurm_task")) ? r.GetInt32(r.GetOrdinal("slurm_task")) : null));
        }
        return list;
    }

    private static bool Has(SqliteDataReader r, string column)
    {
        for (int i = 0; i < r.FieldCount; i++)
            if (r.GetName(i) == column) return true;
        return false;
    }

    private static string Now() => DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture);
}

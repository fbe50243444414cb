using Microsoft.Extensions.Logging;

namespace Tomalign.Cli;

/// <summary>
/// A synchronous Microsoft.Extensions.Logging provider writing "level: message" lines to a
/// TextWriter (stderr by default), so that logs, progress and errors never mix with stdout
/// tables and nothing is lost when the process exits.
/// </summary>
internal sealed class TextWriterLoggerProvider : ILoggerProvider
{
    private readonly object _gate = new();
    private readonly TextWriter _writer;
    private readonly LogLevel _minimum;

    public TextWriterLoggerProvider(TextWriter writer, LogLevel minimum)
    {
        _writer = writer;
        _minimum = minimum;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose() => _writer.Flush();

    private sealed class Logger(TextWriterLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner._minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string tag = logLevel switch
            {
                LogLevel.Trace => "trace", LogLevel.Debug => "debug", LogLevel.Information => "info",
                LogLevel.Warning => "warning", LogLevel.Error => "error", _ => "critical",
            };
            lock (owner._gate)
            {
                ProgressLine.ClearIfActive(owner._writer);
                owner._writer.WriteLine($"{tag}: {formatter(state, exception)}");
                if (exception is not null && owner._minimum <= LogLevel.Debug) owner._writer.WriteLine(exception);
                owner._writer.Flush();
            }
        }
    }

}

/// <summary>
/// Progress on long work: an updating line on a terminal, otherwise a line every 25 % (and at least every
/// <see cref="QuietInterval"/> while the work moves, so a log shows minutes-long work going on). It never goes
/// back. Each report is also a cancellation point: once <c>cancel</c> is cancelled (Ctrl-C), the next report
/// throws <see cref="OperationCanceledException"/>, so every stage that reports progress stops there.
/// </summary>
internal sealed class ProgressLine : IProgress<double>
{
    /// <summary>Off a terminal: the longest wait between two progress lines while the percentage moves.</summary>
    internal static TimeSpan QuietInterval { get; set; } = TimeSpan.FromSeconds(10);

    private static bool s_active;
    private readonly TextWriter _writer;
    private readonly string _label;
    private readonly bool _interactive;
    private readonly CancellationToken _cancel;
    private readonly System.Diagnostics.Stopwatch _sinceLine = System.Diagnostics.Stopwatch.StartNew();
    private int _lastShown = -1;

    public ProgressLine(TextWriter writer, string label, bool enabled, CancellationToken cancel = default)
    {
        _writer = writer;
        _label = label;
        _cancel = cancel;
        _interactive = enabled && ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;
        Enabled = enabled;
    }

    public bool Enabled { get; }

    public void Report(double fraction)
    {
        _cancel.ThrowIfCancellationRequested();
        if (!Enabled) return;
        int pct = (int)Math.Clamp(Math.Round(fraction * 100), 0, 100);
        lock (_writer)
        {
            if (pct <= _lastShown) return;
            if (_interactive)
            {
                _lastShown = pct;
                int bar = pct / 5;
                _writer.Write($"\r{_label,-14} [{new string('#', bar)}{new string('.', 20 - bar)}] {pct,3}%");
                s_active = pct < 100;
                if (pct == 100) _writer.WriteLine();
            }
            else if (pct / 25 > Math.Max(_lastShown, 0) / 25 || _sinceLine.Elapsed >= QuietInterval)
            {
                _lastShown = pct;
                _sinceLine.Restart();
                _writer.WriteLine($"{_label}: {pct}%");
            }
            _writer.Flush();
        }
    }

    internal static void ClearIfActive(TextWriter writer)
    {
        if (!s_active) return;
        writer.WriteLine();
        s_active = false;
    }
}

/// <summary>A logger that passes information messages on as debug ones (a stage run many times over, as the tilt-axis search runs the coarse stage).</summary>
internal sealed class DemotedLogger(ILogger inner) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(Demote(logLevel));

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        inner.Log(Demote(logLevel), eventId, state, exception, formatter);

    private static LogLevel Demote(LogLevel level) => level == LogLevel.Information ? LogLevel.Debug : level;
}

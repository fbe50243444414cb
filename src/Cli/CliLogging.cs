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
/// Progress on long work: an updating line on a terminal, otherwise a line every 25 %.
/// </summary>
internal sealed class ProgressLine : IProgress<double>
{
    private static bool s_active;
    private readonly TextWriter _writer;
    private readonly string _label;
    private readonly bool _interactive;
    private int _lastShown = -1;

    public ProgressLine(TextWriter writer, string label, bool enabled)
    {
        _writer = writer;
        _label = label;
        _interactive = enabled && ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;
        Enabled = enabled;
    }

    public bool Enabled { get; }

    public void Report(double fraction)
    {
        if (!Enabled) return;
        int pct = (int)Math.Clamp(Math.Round(fraction * 100), 0, 100);
        lock (_writer)
        {
            if (_interactive)
            {
                if (pct == _lastShown) return;
                _lastShown = pct;
                int bar = pct / 5;
                _writer.Write($"\r{_label,-14} [{new string('#', bar)}{new string('.', 20 - bar)}] {pct,3}%");
                s_active = pct < 100;
                if (pct == 100) _writer.WriteLine();
            }
            else if (pct / 25 > _lastShown / 25 || (_lastShown < 0 && pct == 100))
            {
                _lastShown = pct;
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

using Microsoft.Extensions.Logging;
using Tomalign.Core.Solve;
using Tomalign.Cpu;
using Xunit;

namespace Tomalign.Tests.Solve;

public class SolveLogTests
{
    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }

    [Fact]
    public void LogsBothStagesAndEveryIteration()
    {
        var sim = SimulatedLandmarks.Create(2, landmarks: 15, views: 31);
        var log = new ListLogger();
        var r = new BundleSolver(new CpuBundleNormalEquations(), log).Solve(sim.Input(), new SolveOptions());
        Assert.Contains(log.Lines, l => l.Message.StartsWith("Solve stage 1 (magnification 1, nominal tilts):"));
        Assert.Contains(log.Lines, l => l.Message.StartsWith("Solve full:") && l.Message.Contains("Converged"));
        int iterationLines = log.Lines.Count(l => l.Level == LogLevel.Debug && l.Message.Contains(" iteration ") && l.Message.Contains("RMS"));
        Assert.Equal(r.Iterations, iterationLines);
        // The RMS never rises from one accepted iteration to the next within a stage.
        var rms = log.Lines.Where(l => l.Message.StartsWith("full iteration")).Select(l => double.Parse(l.Message.Split("RMS ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        for (int k = 1; k < rms.Count; k++) Assert.True(rms[k] <= rms[k - 1]);
    }
}

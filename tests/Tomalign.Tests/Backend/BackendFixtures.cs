using Xunit;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Cpu;
using Tomalign.Gpu;

namespace Tomalign.Tests.Backend;

/// <summary>One ILGPU CPU accelerator for every test in the collection (kernel compilation is slow).</summary>
public sealed class IlgpuCpuFixture : IDisposable
{
    public IlgpuCpuFixture() => Backend = GpuBackend.CreateIlgpuCpu();
    public GpuBackend Backend { get; }
    public void Dispose() => Backend.Dispose();
}

/// <summary>One CUDA accelerator for the collection, or none (with the reason) when no device is present.</summary>
public sealed class CudaFixture : IDisposable
{
    public CudaFixture()
    {
        if (!BackendFactory.HasCudaDevice()) { WhyAbsent = "no CUDA device found by ILGPU on this machine"; return; }
        var backend = BackendFactory.Create(DeviceKind.Cuda, new ListLogger(), () => new CpuBackend());
        if (backend is GpuBackend { IsGpu: true } gpu) Backend = gpu;
        else { backend.Dispose(); WhyAbsent = "a CUDA device is listed but could not be started"; }
    }

    public GpuBackend? Backend { get; }
    public string WhyAbsent { get; } = "";
    public void Dispose() => Backend?.Dispose();
}

[CollectionDefinition(Name)]
public sealed class IlgpuCpuCollection : ICollectionFixture<IlgpuCpuFixture> { public const string Name = "ilgpu-cpu accelerator"; }

[CollectionDefinition(Name)]
public sealed class CudaCollection : ICollectionFixture<CudaFixture> { public const string Name = "cuda accelerator"; }

/// <summary>A logger that keeps what it is told, for asserting on warnings.</summary>
public sealed class ListLogger : ILogger
{
    public List<(LogLevel Level, string Message)> Entries { get; } = new();
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Entries) Entries.Add((logLevel, formatter(state, exception)));
    }
    public IEnumerable<string> Warnings => Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message);
}

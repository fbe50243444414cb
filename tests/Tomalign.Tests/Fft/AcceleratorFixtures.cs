using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Tomalign.Tests.Fft;

/// <summary>One ILGPU CPU accelerator (the emulator) shared by a test class.</summary>
public sealed class IlgpuCpuFixture : IDisposable
{
    public IlgpuCpuFixture()
    {
        Context = Context.Create(b => b.CPU().Math(MathMode.Default).EnableAlgorithms());
        Accelerator = Context.CreateCPUAccelerator(0);
    }

    public Context Context { get; }
    public Accelerator Accelerator { get; }

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}

/// <summary>The first CUDA device, or null (with the reason) when there is none.</summary>
public sealed class CudaFixture : IDisposable
{
    public CudaFixture()
    {
        try
        {
            Context = Context.Create(b => b.Cuda().Math(MathMode.Default).EnableAlgorithms());
            var device = Context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda);
            if (device is null) SkipReason = "no CUDA device present";
            else Accelerator = device.CreateAccelerator(Context);
        }
        catch (Exception e)
        {
            SkipReason = $"CUDA unavailable: {e.Message}";
        }
    }

    public Context? Context { get; }
    public Accelerator? Accelerator { get; }
    public string? SkipReason { get; }

    public void Dispose()
    {
        Accelerator?.Dispose();
        Context?.Dispose();
    }
}

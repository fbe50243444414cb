namespace Tomalign.Core.Imaging;

/// <summary>
/// A stack of NZ images of NX×NY float pixels held in memory, x fastest, then y, then z
/// (the MRC order). Pixel (x, y) of view z is Data[(z·NY + y)·NX + x]; its centre is at
/// image coordinate (x, y), and the view's centre of rotation is (NX/2, NY/2) as in IMOD.
/// Large stacks are not held whole: stages stream them by sections through MrcReader.
/// </summary>
public sealed class ImageStack
{
    public ImageStack(int nx, int ny, int nz, float[]? data = null)
    {
        if (nx <= 0 || ny <= 0 || nz <= 0)
            throw new ArgumentOutOfRangeException(nameof(nx), $"stack size {nx}×{ny}×{nz} must be positive");
        long n = (long)nx * ny * nz;
        if (n > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(nx), $"stack {nx}×{ny}×{nz} too large to hold in memory; stream it by sections");
        if (data is not null && data.LongLength != n)
            throw new ArgumentException($"data length {data.LongLength} != {nx}×{ny}×{nz}", nameof(data));
        Nx = nx; Ny = ny; Nz = nz;
        Data = data ?? new float[n];
    }

    public int Nx { get; }
    public int Ny { get; }
    public int Nz { get; }
    public float[] Data { get; }
    public int ViewLength => Nx * Ny;

    public Span<float> View(int z) => Data.AsSpan(z * ViewLength, ViewLength);
    public ReadOnlySpan<float> ReadView(int z) => Data.AsSpan(z * ViewLength, ViewLength);

    /// <summary>The mean of every view (summed in double): the fill value of a warp, as newstack uses.</summary>
    public float[] ViewMeans()
    {
        var means = new float[Nz];
        for (int z = 0; z < Nz; z++)
        {
            double sum = 0;
            foreach (float v in ReadView(z)) sum += v;
            means[z] = (float)(sum / ViewLength);
        }
        return means;
    }

    public float this[int x, int y, int z]
    {
        get => Data[((long)z * Ny + y) * Nx + x];
        set => Data[((long)z * Ny + y) * Nx + x] = value;
    }
}

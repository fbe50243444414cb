using Tomalign.Core.Reporting;
using Xunit;

namespace Tomalign.Tests.Reporting;

public sealed class HtmlReportTests
{
    [Fact]
    public void SlicesBecomeGreyBmpsWithRowZeroAtTheBottom()
    {
        // 3×2 image: row 0 dark, row 1 bright; BMP stores rows bottom-up, so the first stored row is row 0.
        float[] pixels = [0, 0, 0, 1, 1, 1];
        var bmp = HtmlReport.GreyBmp(pixels, 3, 2);
        Assert.Equal((byte)'B', bmp[0]);
        Assert.Equal((byte)'M', bmp[1]);
        Assert.Equal(bmp.Length, BitConverter.ToInt32(bmp, 2));
        Assert.Equal(3, BitConverter.ToInt32(bmp, 18));
        Assert.Equal(2, BitConverter.ToInt32(bmp, 22));
        int data = BitConverter.ToInt32(bmp, 10);
        Assert.Equal(0, bmp[data]);            // first stored row (bottom) = image row 0, dark
        Assert.Equal(255, bmp[data + 4]);      // rows padded to 4 bytes: second stored row = image row 1, bright
    }
}

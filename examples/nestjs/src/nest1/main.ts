// nest1: HTTP front. GET /kafka emits an "order created" event to Kafka and answers with the
// trace id, so a caller can find the whole trace.
import './tracer';
import 'reflect-metadata';
import { Controller, Get, Inject, Module, OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientKafka, ClientsModule, Transport } from '@nestjs/microservices';
import { trace } from '@opentelemetry/api';
import { lastValueFrom } from 'rxjs';
import { ORDER_CREATED, brokers } from '../topics';

@Controller()
class AppController implements OnModuleInit {
  constructor(@Inject('ORDERS') private readonly kafka: ClientKafka) {}

  async onModuleInit() {
    await this.kafka.connect();
  }

  @Get('kafka')
  async order() {
    const traceId = trace.getActiveSpan()?.spanContext().traceId;
    await lastValueFrom(this.kafka.emit(ORDER_CREATED, { id: Date.now(), item: 'book' }));
    return { traceId };
  }
}

@Module({
  imports: [
    ClientsModule.register([
      { name: 'ORDERS', transport: Transport.KAFKA, options: { client: { clientId: 'nest1', brokers }, producerOnlyMode: true } },
    ]),
  ],
  controllers: [AppController],
})
class AppModule {}

async function bootstrap() {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(Number(process.env.PORT ?? 3001), '127.0.0.1');
  console.log(`nest1 ready on ${await app.getUrl()}`);
}
bootstrap();
